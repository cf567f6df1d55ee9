"""Alembic environment: migrates one component's schema, with its own version table."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from services.ingest.models import Base as IngestBase
from services.ledger.models import Base as LedgerBase
from services.offers.models import Base as OffersBase
from services.scoring.models import Base as ScoringBase
from shared.auth import AuthBase

METADATA: dict[str, MetaData] = {
    "auth": AuthBase.metadata,
    "ingest": IngestBase.metadata,
    "scoring": ScoringBase.metadata,
    "offers": OffersBase.metadata,
    "ledger": LedgerBase.metadata,
}

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
