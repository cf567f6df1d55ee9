"""Ingest's use cases, one module per resource: validate, store, roll up and notify,
within the request's unit of work."""
