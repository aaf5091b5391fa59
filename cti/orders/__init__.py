"""Orders pushed by shop backends: single upsert, NDJSON bulk import, CLI import.

The tables (``orders``, ``customers``, ``customer_phones``) belong to
:mod:`cti.customers`; this package is the way orders come in.
"""
