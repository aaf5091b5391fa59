"""Durable jobs in our own database: written before acknowledged, leased, retried, listed.

``service`` holds the table operations (keyword-only, take the session, flush);
``spool`` keeps a job on local disk while the database does not answer;
``runner`` leases due jobs and runs their handlers.
"""
