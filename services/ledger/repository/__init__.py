"""The ledger's SQL, one module per resource. Functions run on the caller's session or
connection; none commits.

Writes go through raw asyncpg on the group writer's connections (``groups`` opens, locks and
loads a write group, ``book`` writes what it planned): a handful of statements whatever the
group's size (the ORM's per-statement overhead was most of a write's cost); reads use the
ORM. Service modules import the module they serve as ``repo``.
"""
