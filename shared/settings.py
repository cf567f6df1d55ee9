"""Settings common to every service, read from the environment (``TENURE_`` prefix)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, PositiveFloat, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("ingest", "scoring", "offers", "ledger")
# The console is a client of the four services' APIs; it has a schema and a role too (its
# people), but no API of its own for the others and no outbox.
CONSOLE = "console"
APP_NAMES = (*SERVICE_NAMES, CONSOLE)
# The principal of each service's own key, which tenure up issues (and re-issues) itself.
SERVICE_PRINCIPAL_PREFIX = "service:"


def service_principal(service: str) -> str:
    """The principal name of ``service``'s own API key."""
    return f"{SERVICE_PRINCIPAL_PREFIX}{service}"


DEFAULT_PORTS = {
    "console": 8000,
    "ingest": 8001,
    "scoring": 8002,
    "offers": 8003,
    "ledger": 8004,
}


class ServiceSettings(BaseSettings):
    """Base settings for a Tenure service; each service subclasses it and names itself."""

    model_config = SettingsConfigDict(env_prefix="TENURE_", extra="ignore")

    service_name: ClassVar[str]

    # The server the platform uses; the service connects to it as its own role.
    database_url: str = Field(
        validation_alias=AliasChoices("TENURE_DATABASE_URL", "DATABASE_URL"),
    )
    # Password of this service's own database role (empty under trust authentication); the
    # migration sets it from PlatformSettings' password for the role.
    db_role_password: SecretStr = SecretStr("")
    db_pool_size: int = 10
    db_max_overflow: int = 10

    host: str = "127.0.0.1"
    port: int = 0
    log_level: str = "INFO"
    log_json: bool = True

    # This service's own API key, used when it calls another service.
    service_api_key: SecretStr = SecretStr("")
    ingest_url: str = "http://127.0.0.1:8001"
    scoring_url: str = "http://127.0.0.1:8002"
    offers_url: str = "http://127.0.0.1:8003"
    ledger_url: str = "http://127.0.0.1:8004"

    outbox_poll_seconds: float = 0.5
    outbox_batch_size: int = 200
    # A failing destination is retried for as long as it takes, the wait doubling from the
    # base up to the cap; only a message the receiver refuses is parked.
    outbox_backoff_base_seconds: float = 0.5
    outbox_max_backoff_seconds: float = 60.0
    # How long an accepted API key stays cached before it is checked again (revocation delay).
    api_key_cache_seconds: float = 5.0
    # Key that signs list cursors. Unset, it is derived from service_api_key (so cursors work
    # across this service's processes until its key is re-issued); with neither set, each
    # process signs with a random key of its own and cursors do not survive a restart.
    cursor_secret: SecretStr = SecretStr("")
    # Largest request body a route takes unless it declares its own limit (shared.limits).
    max_body_bytes: int = 1024 * 1024
    # Requests a second, and burst, each API key may make per scope (shared.ratelimit; per
    # process). The services' own keys are not limited. Stripe's live-mode figure: enough for
    # an integration that uses the batch endpoints, and no one key can starve the others.
    rate_limit_per_second: PositiveFloat = 100.0
    rate_limit_burst: PositiveInt = 200
    # Per-scope overrides as JSON, e.g. TENURE_RATE_LIMITS='{"ledger:write": [50, 100]}';
    # the scope "segment" is each Segment source's (write key's) allowance.
    rate_limits: dict[str, tuple[PositiveFloat, PositiveInt]] = Field(default_factory=dict)

    def effective_port(self) -> int:
        """The configured port, or the service's well-known default."""
        return self.port or DEFAULT_PORTS[self.service_name]

    def service_url(self, service: str) -> str:
        """Base URL of another service."""
        urls = {
            "ingest": self.ingest_url,
            "scoring": self.scoring_url,
            "offers": self.offers_url,
            "ledger": self.ledger_url,
        }
        return urls[service].rstrip("/")


class PlatformSettings(BaseSettings):
    """What the operator's commands (``tenure db upgrade``, ``tenure up``) read: each service
    role's own database password. Empty: the role keeps the password it has (none under trust
    authentication)."""

    model_config = SettingsConfigDict(env_prefix="TENURE_", extra="ignore")

    ingest_db_password: SecretStr = SecretStr("")
    scoring_db_password: SecretStr = SecretStr("")
    offers_db_password: SecretStr = SecretStr("")
    ledger_db_password: SecretStr = SecretStr("")
    console_db_password: SecretStr = SecretStr("")

    def role_passwords(self) -> dict[str, str]:
        """Each app's role password, by app name."""
        return {
            "ingest": self.ingest_db_password.get_secret_value(),
            "scoring": self.scoring_db_password.get_secret_value(),
            "offers": self.offers_db_password.get_secret_value(),
            "ledger": self.ledger_db_password.get_secret_value(),
            "console": self.console_db_password.get_secret_value(),
        }
