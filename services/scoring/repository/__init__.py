"""Scoring's SQL, one module per group of tables.

Functions run on the caller's session; none commits.
"""
