"""Admission of single attempts (the collaborator of Resilience.deliver that says whether an
attempt may be sent, and what it reserves)."""

from __future__ import annotations

import pytest

from lmteams.faults.admission import Admission, CircuitOpen, NodeDown
from lmteams.faults.board import FaultBoard, max_tokens, prompt_tokens
from lmteams.faults.budget import BudgetStop
from lmteams.faults.config import BudgetSpec, HealthConfig, ResilienceSpec
from lmteams.messages import Envelope, Kind
from lmteams.testing import scripted_team


def layer(budget: BudgetSpec | None = None, **config: object) -> tuple[Admission, list[str]]:
    spec, _ = scripted_team(2, lambda c: "x")
    events: list[str] = []
    now = [0.0]
    board = FaultBoard(
        spec,
        ResilienceSpec.model_validate(config),
        budget,
        emit=lambda event, node: events.append(event.type),
        clock=lambda: now[0],
    )
    return Admission(board), events


def request(node: str = "n0", text: str = "hello") -> Envelope:
    return Envelope.make(
        run_id="r",
        sender="coordinator",
        recipients=(node,),
        kind=Kind.REQUEST,
        payload={"messages": [{"role": "user", "content": text}]},
    )


def test_estimates_count_the_system_prompt_the_chat_and_the_token_limit() -> None:
    admission, _ = layer()
    info = admission.board.nodes["n0"]
    # "You are a helpful, concise assistant." is 37 characters: 10 tokens; "hello": 2.
    assert prompt_tokens(request(), info) == 12
    assert max_tokens(request(), info) == 256


def test_a_dead_node_is_refused_with_the_time_to_its_next_probe() -> None:
    admission, _ = layer(health=HealthConfig(dead_after=1, probe_after_s=30))
    admission.board.health.on_failure("n0", 0.0, reason="x")
    with pytest.raises(NodeDown) as info:
        admission.admit(request(), "n0", optional=False)
    assert info.value.retry_after_s == 30
    assert admission.admit(request(), "n0", optional=True) is None  # hedges just skip it
    assert admission.admit(request("n1"), "n1", optional=False) is not None


def test_an_open_breaker_refuses_and_an_optional_call_never_probes() -> None:
    admission, _ = layer()
    breaker = admission.board.breakers["scripted"]
    for _ in range(5):
        breaker.on_failure(0.0)
    with pytest.raises(CircuitOpen) as info:
        admission.admit(request(), "n0", optional=False)
    assert info.value.retry_after_s == 30 and admission.board.counters.breaker_refusals == 1
    assert admission.admit(request(), "n0", optional=True) is None


def test_budget_refusal_is_reported_once_and_releases_the_breaker_probe() -> None:
    admission, events = layer(BudgetSpec(max_tokens=300, strict=True))
    ticket = admission.admit(request(), "n0", optional=False)
    assert ticket is not None and ticket.estimate.tokens == 268  # 12 prompt + 256 most
    breaker = admission.board.breakers["scripted"]
    for _ in range(5):
        breaker.on_failure(0.0)
    breaker.tick(30.0)  # half-open: the next admitted call would be its probe
    with pytest.raises(BudgetStop):
        admission.admit(request(), "n1", optional=False)
    assert breaker.allow(30.0)  # the refused call gave its probe slot back
    breaker.on_abandoned()
    with pytest.raises(BudgetStop):
        admission.admit(request(), "n1", optional=False)
    assert events.count("budget_exceeded") == 1 and admission.board.counters.budget_refusals == 2
