"""Offers's SQL. Functions run on the caller's session; none commits."""
