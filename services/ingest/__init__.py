"""Ingest: accounts, users, product events and signals, with daily rollups for scoring."""
