"""Reusable HTTP mechanics for connectors: client, auth, pagination, rate limits, retries, errors, batching.

No vendor knowledge lives here.
"""
