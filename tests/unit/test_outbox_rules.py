"""The outbox's pure rules: which answers are retried, which park a message, the circuit."""

from __future__ import annotations

import pytest

from shared.outbox_delivery import Circuit, Verdict, backoff_seconds, refused_messages, verdict


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_delivers(status: int) -> None:
    assert verdict(status) is Verdict.DELIVERED


@pytest.mark.parametrize("status", [400, 409, 413, 415, 422])
def test_a_4xx_about_the_message_refuses_it(status: int) -> None:
    assert verdict(status) is Verdict.REFUSED


@pytest.mark.parametrize("status", [401, 403, 404, 408, 425, 429, 500, 502, 503, 504, 301])
def test_outages_throttling_and_wrong_keys_or_routes_are_retried(status: int) -> None:
    assert verdict(status) is Verdict.RETRY


def test_a_refusal_names_the_messages_its_pointers_reach() -> None:
    problem = {
        "status": 422,
        "errors": [
            {"pointer": "/messages/3/payload", "detail": "too deep"},
            {"pointer": "/messages/1", "detail": "missing id"},
            {"pointer": "/messages/3/topic", "detail": "second reason for 3"},
            {"pointer": "/messages/9/payload", "detail": "not one that was sent"},
            {"pointer": "/messagesx/0", "detail": "not a message"},
            {"parameter": "limit", "detail": "not a message"},
        ],
    }
    assert refused_messages(problem, 5) == {
        3: "/messages/3/payload: too deep",
        1: "/messages/1: missing id",
    }


@pytest.mark.parametrize(
    "answer",
    [None, "text", [], {"errors": "x"}, {"errors": [{"pointer": "/messages"}]}, {"title": "x"}],
)
def test_a_refusal_without_message_pointers_names_none(answer: object) -> None:
    assert refused_messages(answer, 10) == {}


def test_a_circuit_sends_batches_while_closed_and_one_message_while_open() -> None:
    circuit = Circuit()
    assert not circuit.is_open
    assert circuit.claim_limit(200) == 200
    circuit.failed()
    circuit.failed()
    assert circuit.is_open
    assert circuit.claim_limit(200) == 1
    circuit.succeeded()
    assert circuit.claim_limit(200) == 200


def test_a_circuits_backoff_grows_with_failures_up_to_the_cap() -> None:
    circuit = Circuit()
    ceilings = []
    for _ in range(40):
        circuit.failed()
        ceilings.append(circuit.delay(base=0.5, cap=60.0))
    assert all(0.25 <= d <= 60.0 for d in ceilings)
    assert ceilings[-1] >= 30.0  # at the cap: within its upper half
    assert ceilings[0] <= 0.5


def test_backoff_after_very_many_attempts_stays_at_the_cap() -> None:
    assert 30.0 <= backoff_seconds(10_000, base=0.5, cap=60.0) <= 60.0
