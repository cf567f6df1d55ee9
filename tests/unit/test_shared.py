"""The shared library's pure parts: problem details, cursors, backoff, scopes."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.scoring.domain.changes import changed_accounts
from shared.auth import Principal, generate_key, hash_key, validate_scopes
from shared.errors import (
    BadRequest,
    Unprocessable,
    install_error_handlers,
    validation_field_errors,
)
from shared.outbox import backoff_seconds
from shared.pagination import decode_cursor, encode_cursor
from shared.validation import Instant, unstorable


def test_validation_errors_become_json_pointers() -> None:
    errors = validation_field_errors(
        [
            {"loc": ("body", "accounts", 3, "currency"), "msg": "bad"},
            {"loc": ("query", "limit"), "msg": "too big"},
            {"loc": ("body", "a/b~c"), "msg": "odd"},
        ]
    )
    assert errors[0].pointer == "/accounts/3/currency"
    assert errors[1].parameter == "limit"
    assert errors[2].pointer == "/a~1b~0c"


@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20)), max_size=4))
def test_cursor_round_trip(position: list[object]) -> None:
    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize("junk", ["%%%", "bm90IGpzb24", "eyJhIjoxfQ"])
def test_foreign_cursors_are_refused(junk: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(junk)


def test_backoff_grows_and_is_capped() -> None:
    assert 0.25 <= backoff_seconds(1, base=0.5, cap=60) <= 0.5
    assert 2.0 <= backoff_seconds(4, base=0.5, cap=60) <= 4.0
    assert 30 <= backoff_seconds(30, base=0.5, cap=60) <= 60


def test_keys_are_random_and_hashed() -> None:
    a, b = generate_key(), generate_key()
    assert a != b
    assert a.startswith("tnr_")
    assert hash_key(a) != a
    assert len(hash_key(a)) == 64


def test_admin_holds_every_scope_and_unknown_scopes_are_refused() -> None:
    admin = Principal(uuid.uuid4(), "ops", frozenset({"admin"}))
    reader = Principal(uuid.uuid4(), "crm", frozenset({"ingest:read"}))
    assert admin.allows("ledger:write")
    assert reader.allows("ingest:read")
    assert not reader.allows("ingest:write")
    assert validate_scopes(["ledger:read", "ledger:read"]) == ["ledger:read"]
    with pytest.raises(Unprocessable):
        validate_scopes(["root"])


def test_changed_accounts_counts_only_account_change_messages() -> None:
    counts = changed_accounts(
        [
            ("accounts.changed", {"account_ids": ["a", "b"]}),
            ("accounts.changed", {"account_ids": ["a", 5, ""]}),
            ("something.else", {"account_ids": ["c"]}),
            ("accounts.changed", {"account_ids": "not-a-list"}),
        ]
    )
    assert counts == {"a": 2, "b": 1}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape"), 422),
        (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), 422),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), 503),
        (asyncpg.exceptions.SerializationError("could not serialize"), 503),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), 503),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), 503),
        (ConnectionRefusedError(111, "Connect call failed"), 503),
        (asyncpg.exceptions.UndefinedTableError("relation does not exist"), 500),
    ],
)
async def test_database_errors_become_problems_the_caller_can_act_on(
    error: Exception, status: int
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tenure") as client:
        response = await client.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert "relation" not in response.text  # the database's internals stay inside
    if status == 503:
        assert response.headers["retry-after"] == "1"


def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL"),
        ({"k": ["ok", {"deep": "x\ud800"}]}, "surrogates"),
        ({"k\udfff": 1}, "surrogates"),
        (nested(500), "nested deeper"),
    ],
)
def test_unstorable_values_are_named_not_crashed_on(value: object, reason: str) -> None:
    problem = unstorable(value)
    assert problem is not None
    assert reason in problem


def test_storable_values_pass() -> None:
    assert unstorable({"emoji": "😀", "nested": [[[{"a": 1}]]], "n": None}) is None


@pytest.mark.parametrize(
    "raw", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-11-20T10:00:00"]
)
def test_instants_refuse_naive_and_unrepresentable_times(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(raw)


def test_instants_are_normalised_to_utc() -> None:
    instant = TypeAdapter(Instant).validate_python("2026-11-20T10:00:00+02:00")
    assert instant.isoformat() == "2026-11-20T08:00:00+00:00"
