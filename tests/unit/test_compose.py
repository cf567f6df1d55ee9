"""docker-compose.yml agrees with the services' real settings (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.console.settings import ConsoleSettings
from services.ingest.settings import IngestSettings
from services.ledger.settings import LedgerSettings
from services.offers.settings import OffersSettings
from services.scoring.settings import ScoringSettings
from shared.settings import DEFAULT_PORTS, SERVICE_NAMES, PlatformSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "scoring": ScoringSettings,
    "offers": OffersSettings,
    "ledger": LedgerSettings,
    "console": ConsoleSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def resolved_env(env: dict[str, Any]) -> dict[str, str]:
    """Values with ${VAR:-default} replaced by their default, as compose would without VAR."""
    return {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_environment_builds_its_settings(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    env = resolved_env(spec["environment"])
    known = {f"TENURE_{name.upper()}" for name in SETTINGS[service].model_fields}
    assert set(env) <= known | {"DATABASE_URL"}, set(env) - known
    settings = SETTINGS[service].model_validate(
        {k.removeprefix("TENURE_").lower(): v for k, v in env.items()}
    )
    assert settings.effective_port() == DEFAULT_PORTS[service]
    assert settings.database_url.startswith("postgresql://")
    for other in SERVICE_NAMES:
        assert settings.service_url(other) == f"http://{other}:{DEFAULT_PORTS[other]}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_ports_and_commands_match(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    port = DEFAULT_PORTS[service]
    assert spec["ports"] == [f"{port}:{port}"]
    command = spec["command"]
    assert f"services.{service}.app:create_app" in command
    assert command[command.index("--port") + 1] == str(port)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_services_wait_for_the_migration(compose: dict[str, Any], service: str) -> None:
    depends = compose["services"][service]["depends_on"]
    assert depends == {"migrate": {"condition": "service_completed_successfully"}}


def test_migration_runs_once_against_healthy_postgres(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["tenure", "db", "upgrade"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "restart" not in migrate
    assert compose["services"]["postgres"]["image"] == "postgres:16"
    db_env = compose["services"]["postgres"]["environment"]
    url = migrate["environment"]["DATABASE_URL"]
    assert f"{db_env['POSTGRES_USER']}:{db_env['POSTGRES_PASSWORD']}@postgres:5432/" in url
    assert url.endswith("/" + db_env["POSTGRES_DB"])


def test_each_role_has_its_own_password_and_the_migration_sets_it(
    compose: dict[str, Any],
) -> None:
    migrate_env = resolved_env(compose["services"]["migrate"]["environment"])
    known = {f"TENURE_{name.upper()}" for name in PlatformSettings.model_fields}
    assert set(migrate_env) <= known | {"DATABASE_URL"}, set(migrate_env) - known
    platform = PlatformSettings.model_validate(
        {k.removeprefix("TENURE_").lower(): v for k, v in migrate_env.items()}
    )
    passwords = platform.role_passwords()
    assert all(passwords.values())
    assert len(set(passwords.values())) == len(SETTINGS)  # no two roles share one
    for service, settings_class in SETTINGS.items():
        env = resolved_env(compose["services"][service]["environment"])
        settings = settings_class.model_validate(
            {k.removeprefix("TENURE_").lower(): v for k, v in env.items()}
        )
        assert settings.db_role_password.get_secret_value() == passwords[service]
