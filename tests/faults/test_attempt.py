"""Admission and accounting of single attempts (the layer under Resilience.deliver)."""

from __future__ import annotations

import pytest

from lmteams.faults.attempt import AttemptLayer, CircuitOpen, NodeDown
from lmteams.faults.budget import BudgetStop
from lmteams.faults.config import BudgetSpec, HealthConfig, ResilienceSpec
from lmteams.messages import Envelope, Kind
from lmteams.testing import scripted_team


def layer(budget: BudgetSpec | None = None, **config: object) -> tuple[AttemptLayer, list[str]]:
    spec, _ = scripted_team(2, lambda c: "x")
    events: list[str] = []
    now = [0.0]

    async def send(envelope: Envelope, timeout_s: float | None) -> Envelope:
        raise AssertionError("not called here")

    attempts = AttemptLayer(
        spec,
        ResilienceSpec.model_validate(config),
        budget,
        send=send,
        emit=lambda type, data, node: events.append(type),
        clock=lambda: now[0],
    )
    return attempts, events


def request(node: str = "n0", text: str = "hello") -> Envelope:
    return Envelope.make(
        run_id="r",
        sender="coordinator",
        recipients=(node,),
        kind=Kind.REQUEST,
        payload={"messages": [{"role": "user", "content": text}]},
    )


def test_estimates_count_the_system_prompt_the_chat_and_the_token_limit() -> None:
    attempts, _ = layer()
    info = attempts.nodes["n0"]
    # "You are a helpful, concise assistant." is 37 characters: 10 tokens; "hello": 2.
    assert attempts._prompt_tokens(request(), info) == 12
    assert attempts._max_tokens(request(), info) == 256


def test_a_dead_node_is_refused_with_the_time_to_its_next_probe() -> None:
    attempts, _ = layer(health=HealthConfig(dead_after=1, probe_after_s=30))
    attempts.health.on_failure("n0", 0.0, reason="x")
    with pytest.raises(NodeDown) as info:
        attempts._admit(request(), "n0", optional=False)
    assert info.value.retry_after_s == 30
    assert attempts._admit(request(), "n0", optional=True) is None  # hedges just skip it
    assert attempts._admit(request("n1"), "n1", optional=False) is not None


def test_an_open_breaker_refuses_and_an_optional_call_never_probes() -> None:
    attempts, _ = layer()
    breaker = attempts.breakers["scripted"]
    for _ in range(5):
        breaker.on_failure(0.0)
    with pytest.raises(CircuitOpen) as info:
        attempts._admit(request(), "n0", optional=False)
    assert info.value.retry_after_s == 30 and attempts.counters.breaker_refusals == 1
    assert attempts._admit(request(), "n0", optional=True) is None


def test_budget_refusal_is_reported_once_and_releases_the_breaker_probe() -> None:
    attempts, events = layer(BudgetSpec(max_tokens=300, strict=True))
    ticket = attempts._admit(request(), "n0", optional=False)
    assert ticket is not None and ticket.estimate.tokens == 268  # 12 prompt + 256 most
    breaker = attempts.breakers["scripted"]
    for _ in range(5):
        breaker.on_failure(0.0)
    breaker.tick(30.0)  # half-open: the next admitted call would be its probe
    with pytest.raises(BudgetStop):
        attempts._admit(request(), "n1", optional=False)
    assert breaker.allow(30.0)  # the refused call gave its probe slot back
    breaker.on_abandoned()
    with pytest.raises(BudgetStop):
        attempts._admit(request(), "n1", optional=False)
    assert events.count("budget_exceeded") == 1 and attempts.counters.budget_refusals == 2
