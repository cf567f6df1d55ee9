"""The ledger's rules, free of I/O: lot selection, reversals, units, hashing."""
