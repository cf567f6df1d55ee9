"""The shared library's pure parts: problem details, cursors, backoff, scopes."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from fastapi import Depends, FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.ingest.settings import IngestSettings
from services.scoring.domain.changes import changed_accounts
from shared.auth import Principal, generate_key, hash_key, validate_scopes
from shared.contracts import ACCOUNTS_CHANGED, AccountsChanged
from shared.error_handlers import install_error_handlers, validation_field_errors
from shared.errors import (
    BadRequest,
    MalformedJson,
    PayloadTooLarge,
    TooManyRequests,
    Unprocessable,
)
from shared.json_body import parse_json
from shared.limits import Inflater
from shared.outbox import (
    Delivery,
    DeliveryAck,
    Message,
    acknowledgement,
    fresh_messages,
    read_delivery,
)
from shared.outbox_delivery import backoff_seconds
from shared.pagination import CursorSigner, PageRequest, paginated
from shared.ratelimit import Allowance, RateLimiter
from shared.validation import Instant, unstorable, unstorable_at


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


SIGNER = CursorSigner(b"k" * 32)
ListPosition = tuple[datetime, uuid.UUID]


def cursor_app() -> FastAPI:
    """One list endpoint paged by a (datetime, uuid) position, as the services' lists are."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.cursor_signer = SIGNER

    @app.get("/things")
    async def things(
        page: Annotated[PageRequest[ListPosition], Depends(paginated(ListPosition))],
    ) -> dict[str, object]:
        assert page.after is None or isinstance(page.after[1], uuid.UUID)
        return {"after": page.after, "limit": page.limit}

    return app


async def get_things(cursor: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=cursor_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tenure") as client:
        return await client.get("/things", params={"cursor": cursor})


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_cursor_round_trip(at: datetime, row_id: uuid.UUID) -> None:
    position: ListPosition = (at, row_id)
    adapter: TypeAdapter[ListPosition] = TypeAdapter(ListPosition)
    page = PageRequest(after=None, limit=1, scope="GET /things?[]", signer=SIGNER, adapter=adapter)
    opened = adapter.validate_python(SIGNER.open("GET /things?[]", page.cursor(position)))
    assert opened == position


async def test_a_signed_cursor_comes_back_as_a_typed_position() -> None:
    row_id = uuid.uuid4()
    cursor = SIGNER.sign("GET /things?[]", ["2026-11-20T10:00:00+00:00", str(row_id)])
    response = await get_things(cursor)
    assert response.status_code == 200
    assert response.json()["after"] == ["2026-11-20T10:00:00Z", str(row_id)]


def tampered(cursor: str) -> str:
    tag = cursor.partition(".")[2]
    forged = base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00","x"]').decode().rstrip("=")
    return f"{forged}.{tag}"


GOOD = SIGNER.sign("GET /things?[]", ["2026-11-20T10:00:00+00:00", str(uuid.uuid4())])


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "WzFd",  # base64 of [1]: the old, unsigned cursor format
        "bm90IGpzb24",
        "WzFd.AAAA",
        "WzFd.%%%",
        ".",
        tampered(GOOD),
        GOOD[:-2],
        CursorSigner(b"another key").sign("GET /things?[]", ["2026-11-20T10:00:00+00:00", "x"]),
        SIGNER.sign("GET /other?[]", ["2026-11-20T10:00:00+00:00", str(uuid.uuid4())]),
        # Signed here for this list, but not its shape: refused, never a crash in the router.
        SIGNER.sign("GET /things?[]", [1]),
        SIGNER.sign("GET /things?[]", ["not a time", "not a uuid"]),
        SIGNER.sign("GET /things?[]", ["2026-11-20T10:00:00+00:00"]),
    ],
)
async def test_any_cursor_not_signed_for_the_list_and_its_shape_is_a_400(cursor: str) -> None:
    response = await get_things(cursor)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["parameter"] == "cursor"


def test_cursor_keys_come_from_settings_and_are_stable() -> None:
    def settings(**env: str) -> IngestSettings:
        return IngestSettings(database_url="postgresql://x/y", **env)  # type: ignore[arg-type]

    one = CursorSigner.for_settings(settings(cursor_secret="s3cret"))
    two = CursorSigner.for_settings(settings(cursor_secret="s3cret"))
    assert one.sign("GET /a", [1]) == two.sign("GET /a", [1])
    derived = CursorSigner.for_settings(settings(service_api_key="tnr_x"))
    assert derived.sign("GET /a", [1]) == CursorSigner.for_settings(
        settings(service_api_key="tnr_x")
    ).sign("GET /a", [1])
    assert derived.sign("GET /a", [1]) != one.sign("GET /a", [1])


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


def test_a_delivery_is_read_by_its_contract_and_a_message_that_breaks_it_is_named() -> None:
    def message(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "topic": topic, "source": "ingest", "payload": payload}

    good = Delivery.model_validate(
        {
            "messages": [
                message("accounts.changed", {"account_ids": ["a", "b"]}),
                message("something.else", {"anything": 1}),
                message("accounts.changed", {"account_ids": ["a"]}),
            ]
        }
    )
    read = read_delivery(good, ACCOUNTS_CHANGED, AccountsChanged)
    assert changed_accounts(c for _m, c in read) == {"a": 2, "b": 1}

    bad = Delivery.model_validate(
        {
            "messages": [
                message("accounts.changed", {"account_ids": ["a"]}),
                message("accounts.changed", {"account_ids": ["a", 5]}),
                message("accounts.changed", {"account_ids": "not-a-list"}),
            ]
        }
    )
    with pytest.raises(Unprocessable) as refused:
        read_delivery(bad, ACCOUNTS_CHANGED, AccountsChanged)
    pointers = [e.pointer for e in refused.value.errors]
    assert pointers == ["/messages/1/payload/account_ids/1", "/messages/2/payload/account_ids"]


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


def postgres_error(fields: dict[str, str]) -> Exception:
    """An asyncpg error as the server sends it (SQLSTATE, message, detail, names)."""
    error: Exception = asyncpg.PostgresError.new({"S": "ERROR", "M": "violation", **fields})
    return error


@pytest.mark.parametrize(
    ("fields", "status", "slug", "pointer"),
    [
        (
            {"C": "23505", "D": "Key (write_key_hash)=(s3cret) already exists.", "n": "uq_x"},
            409,
            "duplicate",
            "/write_key_hash",
        ),
        (
            {"C": "23505", "D": "Key (a, b)=(s3cret, 1) already exists.", "n": "uq_ab"},
            409,
            "duplicate",
            "/a",
        ),
        (
            {"C": "23503", "D": 'Key (account_id)=(s3cret) is not present in table "a".'},
            422,
            "unknown-reference",
            "/account_id",
        ),
        (
            {"C": "23502", "c": "name", "D": "Failing row contains (s3cret)."},
            422,
            "constraint-violated",
            "/name",
        ),
        (
            {"C": "23514", "n": "ck_accounts_renewal_after_start", "D": "Failing row (s3cret)."},
            422,
            "constraint-violated",
            "",
        ),
        ({"C": "23P01", "n": "ex_overlap"}, 422, "constraint-violated", ""),
    ],
)
async def test_integrity_violations_are_the_callers_errors_naming_the_field(
    fields: dict[str, str], status: int, slug: str, pointer: str
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    async def write() -> None:
        raise postgres_error(fields)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tenure") as client:
        response = await client.post("/write")
    assert response.status_code == status
    problem = response.json()
    assert problem["type"].endswith(f"/{slug}")
    assert problem["errors"][0]["pointer"] == pointer
    assert "s3cret" not in response.text  # values may be secrets: only names are shown
    if "n" in fields and status == 422:
        assert fields["n"] in problem["detail"]


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


@pytest.mark.parametrize(
    "number", [float("nan"), float("inf"), -0.0, 1e20, 1e15, 2**63, -(2**63) - 1]
)
def test_numbers_jsonb_would_change_are_unstorable(number: float) -> None:
    problem = unstorable({"metadata": [number]})
    assert problem is not None
    assert "stored exactly" in problem


@pytest.mark.parametrize("number", [0, -0, 0.0, 1.5, -(2**63), 2**63 - 1, 1e-300, 9.99e14, True])
def test_numbers_jsonb_keeps_are_storable(number: float) -> None:
    assert unstorable({"metadata": [number]}) is None


def test_storable_values_pass() -> None:
    assert unstorable({"emoji": "😀", "nested": [[[{"a": 1}]]], "n": None}) is None


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2026-11-20T10:00:00",
        "0001-01-01T00:00:00Z",  # asyncpg's -infinity
        "9999-12-31T23:59:59.999999Z",  # and infinity
    ],
)
def test_instants_refuse_naive_and_unrepresentable_times(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(raw)


def test_instants_are_normalised_to_utc() -> None:
    instant = TypeAdapter(Instant).validate_python("2026-11-20T10:00:00+02:00")
    assert instant.isoformat() == "2026-11-20T08:00:00+00:00"


def test_a_gzip_bomb_is_refused_while_inflating_not_after() -> None:
    limit = 1024 * 1024
    compressed = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    inflater = Inflater(limit)

    def feed_all() -> int:
        fed = 0
        for start in range(0, len(compressed), 1024):
            fed += 1024
            try:
                inflater.feed(compressed[start : start + 1024])
            except PayloadTooLarge:
                return fed
        return fed

    assert feed_all() < len(compressed) // 10  # stopped within the first tenth of the input


def test_inflating_takes_several_gzip_members_and_refuses_a_truncated_one() -> None:
    inflater = Inflater(100)
    assert inflater.feed(gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"
    inflater.finish()
    truncated = Inflater(100)
    truncated.feed(gzip.compress(b"abcdef")[:-4])
    with pytest.raises(BadRequest):
        truncated.finish()


def test_token_buckets_refill_at_their_rate_and_say_when_to_retry() -> None:
    now = [0.0]
    limiter = RateLimiter(Allowance(1000, 100), {"ledger:write": Allowance(0.5, 2)}, lambda: now[0])
    limiter.take("a", "ledger:write")
    limiter.take("a", "ledger:write")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a", "ledger:write")
    assert refused.value.headers["Retry-After"] == "2"  # one request every 2 s
    limiter.take("b", "ledger:write")  # another caller has its own bucket
    limiter.take("a", "ledger:read")  # and another scope its own allowance
    now[0] = 2.0
    limiter.take("a", "ledger:write")
    with pytest.raises(TooManyRequests):
        limiter.take("a", "ledger:write")


def test_unstorable_at_points_at_the_value() -> None:
    assert unstorable_at({"data": {"mrr_minor": 2**63}}) == (
        "/data/mrr_minor",
        unstorable(2**63),
    )
    pointer, _why = unstorable_at({"a/b": [0, "x\x00"]}) or ("", "")
    assert pointer == "/a~1b/1"
    pointer, _why = unstorable_at({"k\ud800": 1}) or ("", "")
    assert pointer == "/k\ufffd"
    assert unstorable_at({"fine": [1, "two", {"three": 3.0}]}) is None


def test_json_orjson_refuses_is_still_read_so_the_value_is_refused_by_name() -> None:
    # Thousands of digits: read as the infinity it approximates, for validation to refuse.
    assert parse_json(b'{"mrr_minor": 1' + b"0" * 5000 + b"}") == {"mrr_minor": float("inf")}
    assert parse_json(b'{"name": "\\ud800"}') == {"name": "\ud800"}
    # Past 64 bits orjson gives a float: such an integer is read exactly, for the field (or
    # the storability check) to take or refuse as the integer it is.
    assert parse_json(b'{"n": 18446744073709551616, "m": -9223372036854775809}') == {
        "n": 2**64,
        "m": -(2**63) - 1,
    }
    assert parse_json(b'{"id": "12345678901234567890", "n": 1.5}') == {
        "id": "12345678901234567890",
        "n": 1.5,
    }
    with pytest.raises(MalformedJson):
        parse_json(b'{"name": ')
    with pytest.raises(MalformedJson):
        parse_json(b'{"n": NaN}')


def test_a_message_repeated_within_one_delivery_is_processed_once() -> None:
    first, other = uuid.uuid4(), uuid.uuid4()

    def message(message_id: uuid.UUID) -> Message:
        return Message(id=message_id, topic="t", source="s", payload={})

    messages = [message(first), message(other), message(first)]
    fresh = fresh_messages(messages, new={first})
    assert [m.id for m in fresh] == [first]
    assert acknowledgement(messages, fresh) == DeliveryAck(
        processed=[first], duplicates=[other, first]
    )


@pytest.mark.parametrize("value", [0, 1700000000, 1.5, True, "0", "1700000000", " 1.5e9 "])
def test_a_number_is_never_taken_for_a_time(value: object) -> None:
    with pytest.raises(ValidationError, match="not a number"):
        TypeAdapter(Instant).validate_python(value)
    assert TypeAdapter(Instant).validate_python("2030-01-01T00:00:00+01:00").hour == 23
