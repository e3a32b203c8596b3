"""Deadlines by default: a team without a ``resilience:`` section, in virtual time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from lmteams.errors import ModelTimeout, ModelUnavailable
from lmteams.faults.config import BudgetSpec, FaultsSpec, ResilienceSpec, RetryConfig
from lmteams.faults.detector import NodeState
from lmteams.faults.retry import decide
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team

DEADLINE_S = 20.0


def team_of(
    n: int,
    script: Callable[[ScriptedCall], Any],
    *,
    hang: str | None = None,
    budget: dict[str, Any] | None = None,
) -> tuple[Team, ScriptedBackend, EventStore]:
    spec, backends = scripted_team(n, script, latency_s=1.0)
    update: dict[str, Any] = {
        "defaults": spec.defaults.model_copy(update={"timeout_s": DEADLINE_S})
    }
    if hang is not None:
        update["faults"] = FaultsSpec.model_validate(
            {"nodes": {hang: {"crash_after": 0, "crash_mode": "hang"}}}
        )
    if budget is not None:
        update["budget"] = BudgetSpec.model_validate(budget)
    spec = spec.model_copy(update=update)
    store = EventStore(":memory:")
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend) and spec.resilience is None
    return Team(spec, store, kind="test", backends=backends), backend, store


async def test_a_hung_node_gets_the_default_deadline_and_its_call_moves() -> None:
    team, _, store = team_of(2, lambda c: f"from {c.node}", hang="n0")
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            assert team.resilience is None  # the fast path until something hangs
            start = loop.time()
            reply = await team.call("n0", "q")
            elapsed = loop.time() - start
    assert reply.node == "n0" and reply.served_by == "n1" and reply.text == "from n1"
    assert elapsed == pytest.approx(DEADLINE_S + 1.0)  # the deadline, then n1's answer
    [failed] = store.events(team.run_id, types=["call_failed"])
    assert failed.node == "n0" and failed.data["error"] == "ModelTimeout"
    [retry] = store.events(team.run_id, types=["retry"])
    assert retry.data["attempt"] == 1 and retry.data["error"] == "ModelTimeout"
    assert store.events(team.run_id, types=["rerouted"])[0].data["to"] == "n1"


async def test_once_the_hung_node_is_dead_its_calls_go_elsewhere_at_once() -> None:
    team, _, _ = team_of(2, lambda c: f"from {c.node}", hang="n0")
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            for i in range(3):  # dead after three timeouts (health.dead_after)
                await team.call("n0", f"q{i}")
            assert team.resilience is not None
            assert team.resilience.health.state("n0") is NodeState.DEAD
            start = loop.time()
            reply = await team.call("n0", "next")
            assert loop.time() - start == pytest.approx(1.0)  # no deadline waited out
    assert reply.served_by == "n1"


async def test_a_lone_hung_node_is_tried_three_times_then_times_out() -> None:
    team, _, store = team_of(1, lambda c: "never", hang="n0")
    with VirtualClock():
        async with team:
            with pytest.raises(ModelTimeout, match="no reply within 20s"):
                await team.call("n0", "q")
    assert len(store.events(team.run_id, types=["call_failed"])) == 3
    assert team.totals.calls == 3 and team.totals.failures == 3


async def test_other_errors_on_the_fast_path_are_raised_at_once() -> None:
    team, backend, store = team_of(2, lambda c: ModelUnavailable("connection refused"))
    async with team:
        with pytest.raises(ModelUnavailable):
            await team.call("n0", "q")
        assert team.resilience is None
    assert backend.calls == 1 and store.events(team.run_id, types=["retry"]) == []


async def test_after_a_hang_other_errors_are_still_not_retried() -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        return ModelUnavailable("down") if "fail" in call.prompt else "ok"

    team, backend, _ = team_of(3, script, hang="n0")
    with VirtualClock():
        async with team:
            await team.call("n0", "hang")  # moves the team onto the layer
            calls = backend.calls
            with pytest.raises(ModelUnavailable):
                await team.call("n2", "fail")
    assert backend.calls == calls + 1


async def test_a_team_with_only_a_budget_gets_the_same_deadlines() -> None:
    team, _, _ = team_of(2, lambda c: f"from {c.node}", hang="n0", budget={"max_tokens": 10**6})
    with VirtualClock():
        async with team:
            assert team.resilience is not None
            assert team.resilience.fixed_timeout_s == DEADLINE_S
            reply = await team.call("n0", "q")
    assert reply.served_by == "n1"


async def test_a_resilience_section_keeps_its_own_settings() -> None:
    spec, backends = scripted_team(1, lambda c: "ok")
    spec = spec.model_copy(
        update={"resilience": ResilienceSpec.model_validate({"timeouts": {"call_s": 7}})}
    )
    async with Team(spec, EventStore(":memory:"), kind="test", backends=backends) as team:
        assert team.resilience is not None and team.resilience.fixed_timeout_s == 7
        assert not team.resilience.config.retries.only_timeouts


def test_only_timeouts_retries_timeouts_and_raises_other_transient_errors() -> None:
    config = RetryConfig(max_attempts=3, only_timeouts=True)

    def retried(error: Exception) -> bool:
        return decide(
            config,
            error,  # type: ignore[arg-type]
            attempt=1,
            feedback_retries_used=0,
            feedback_retries=1,
            rng=random.Random(0),
        ).retry

    assert retried(ModelTimeout("slow"))
    assert not retried(ModelUnavailable("refused"))
    assert ResilienceSpec.deadlines().retries.only_timeouts
