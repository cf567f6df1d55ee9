"""Ledger: the append-only double-entry credit ledger."""
