"""Every component's table metadata, keyed by schema: what migrations are compared against."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.console.models import Base as ConsoleBase
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
    "console": ConsoleBase.metadata,
}
