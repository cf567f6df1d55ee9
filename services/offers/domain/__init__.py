"""Offers' business rules, free of I/O."""
