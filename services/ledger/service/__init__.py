"""The ledger's service layer, one module per resource: what each endpoint does, between
parsing (``api``) and SQL (``repository``); the write path itself is ``group_writer``.
"""
