"""Webhooks to shops: signed, delivered at least once, every attempt in a delivery log.

``signing`` is pure (sign and the reference verification); ``service`` enqueues an
event with its durable job; ``deliver`` is the job handler that POSTs it; ``router``
lists a confirmation's deliveries.
"""
