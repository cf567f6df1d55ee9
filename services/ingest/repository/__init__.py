"""Ingest's SQL, one module per resource. Functions compose and run queries on the
caller's session; none commits."""
