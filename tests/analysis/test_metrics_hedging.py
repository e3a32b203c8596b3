"""Every call actually sent counts: hedge copies and resends, in calls and tokens."""

from __future__ import annotations

import asyncio
from typing import Any

from lmteams.analysis.metrics import compute
from lmteams.errors import ModelUnavailable
from lmteams.faults.config import ResilienceSpec
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team


def team_with(
    script: Any, latency: Any, resilience: dict[str, Any]
) -> tuple[Team, ScriptedBackend, EventStore]:
    spec, backends = scripted_team(4, script, latency_s=latency)
    spec = spec.model_copy(update={"resilience": ResilienceSpec.model_validate(resilience)})
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend)
    store = EventStore(":memory:")
    return Team(spec, store, kind="test", backends=backends), backend, store


def reply_tokens(store: EventStore, run_id: str) -> int:
    total = 0
    for event in store.events(run_id, types=["message"]):
        usage = event.data.get("usage") or {}
        total += usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    return total


async def test_hedge_copies_count_in_calls_and_tokens_and_show_their_cost() -> None:
    slow = {"on": False}

    def latency(call: ScriptedCall) -> float:
        return 10.0 if slow["on"] and call.node == "n3" else 1.0

    team, backend, store = team_with(
        lambda c: f"Answer from {c.node} " + "word " * 20,
        latency,
        {"hedging": {"enabled": True, "min_samples": 4}},
    )
    with VirtualClock():
        async with team:
            for round_ in range(3):
                async with asyncio.TaskGroup() as group:
                    for name in team.spec.node_names:
                        group.create_task(team.call(name, f"warm-up {round_}"))
            slow["on"] = True
            for i in range(3):
                await team.call("n3", f"question {i}")
            counters = team.resilience.counters if team.resilience else None
    assert counters is not None and counters.hedges_sent == 3
    # 12 warm-up calls, 3 primaries, 3 hedge copies: every one sent to the model is counted
    assert backend.calls == 18
    assert team.totals.calls == 18
    metrics = compute(team.run_id, store.events(team.run_id))
    assert metrics.calls == 18
    assert metrics.hedges == 3 and metrics.hedges_won == 3
    assert metrics.hedge_extra_tokens == counters.hedge_extra_tokens > 0
    # the primaries were cancelled before their reply: their tokens are estimated, not lost
    assert metrics.estimated_tokens == team.totals.estimated_tokens > 0
    assert metrics.total_tokens == reply_tokens(store, team.run_id) + metrics.estimated_tokens
    assert metrics.total_tokens == team.totals.usage.total_tokens
    [finished] = store.events(team.run_id, types=["run_finished"])
    assert finished.data["calls"] == 18
    assert finished.data["prompt_tokens"] + finished.data["completion_tokens"] == (
        metrics.total_tokens
    )


async def test_resent_calls_count_in_calls_and_tokens() -> None:
    failures = {"left": 2}

    def script(call: ScriptedCall) -> str | BaseException:
        if call.node == "n0" and failures["left"] > 0:
            failures["left"] -= 1
            return ModelUnavailable("connection reset")
        return "Answer: 4"

    team, backend, store = team_with(
        script, 1.0, {"retries": {"base_s": 0}, "reroute": {"enabled": False}}
    )
    with VirtualClock():
        async with team:
            reply = await team.call("n0", "q")
    assert reply.text == "Answer: 4" and backend.calls == 3
    metrics = compute(team.run_id, store.events(team.run_id))
    assert metrics.calls == team.totals.calls == 3
    assert metrics.retries == 2 and metrics.failed_calls == 2
    assert metrics.total_tokens == team.totals.usage.total_tokens > 0
