"""Alembic environment: migrates one component's schema, with its own version table."""

from __future__ import annotations

from alembic import context

from services.metadata import METADATA

config = context.config
component: str = config.attributes["component"]
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tenure db upgrade`, which passes a connection")


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Only this component's schema is compared and migrated."""
    if type_ == "schema":
        return name == component
    return True


context.configure(
    connection=connection,
    target_metadata=METADATA[component],
    version_table_schema=component,
    include_schemas=True,
    include_name=include_name,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
