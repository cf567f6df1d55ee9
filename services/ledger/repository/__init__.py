"""The ledger's SQL, one module per resource. Functions run on the caller's session or
connection; none commits.

Writes go through raw asyncpg on the group writer's connections (``groups``): a write group
opens, locks, loads and writes with a handful of statements, whatever its size (the ORM's
per-statement overhead was most of a write's cost); reads use the ORM.
"""
