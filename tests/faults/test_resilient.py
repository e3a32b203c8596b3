"""The resilience layer around Team.call, with scripted models in virtual time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lmteams.errors import (
    BadOutput,
    BudgetExceeded,
    InvalidRequest,
    ModelError,
    ModelUnavailable,
    RateLimited,
)
from lmteams.faults.breaker import BreakerState
from lmteams.faults.budget import BudgetStop
from lmteams.faults.config import (
    BudgetSpec,
    FaultsSpec,
    ResilienceSpec,
)
from lmteams.faults.detector import NodeState
from lmteams.faults.resilient import Resilience
from lmteams.faults.validation import OutputRules
from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team

Script = Callable[[ScriptedCall], "str | ScriptedReply | BaseException"]


def make_team(
    n: int,
    script: Script,
    *,
    resilience: dict[str, Any] | None = None,
    budget: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
    latency_s: float | Callable[[ScriptedCall], float] | None = 1.0,
    roles: list[str] | None = None,
    **node_fields: Any,
) -> tuple[Team, ScriptedBackend, EventStore]:
    spec, backends = scripted_team(n, script, latency_s=latency_s, roles=roles, **node_fields)
    update: dict[str, Any] = {}
    if resilience is not None:
        update["resilience"] = ResilienceSpec.model_validate(resilience)
    if budget is not None:
        update["budget"] = BudgetSpec.model_validate(budget)
    if faults is not None:
        update["faults"] = FaultsSpec.model_validate(faults)
    spec = spec.model_copy(update=update)
    store = EventStore(":memory:")
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend)
    return Team(spec, store, kind="test", backends=backends), backend, store


def kinds(store: EventStore, run_id: str) -> Counter[str]:
    return Counter(e.type for e in store.events(run_id))


def layer(team: Team) -> Resilience:
    assert team.resilience is not None
    return team.resilience


async def fan_out(team: Team, prompt: str) -> None:
    async with asyncio.TaskGroup() as group:
        for name in team.spec.node_names:
            group.create_task(team.call(name, prompt))


# -- the fast path -------------------------------------------------------------------------


async def test_without_sections_there_is_no_layer() -> None:
    team, _, store = make_team(1, lambda c: "x", latency_s=0)
    async with team:
        await team.call("n0", "q")
        assert team.resilience is None and team.statistics().resilience is None
    assert list(kinds(store, team.run_id)) == ["run_started", "message", "run_finished"]


# -- hedging -------------------------------------------------------------------------------


def straggler_team(*, hedging: bool) -> tuple[Team, ScriptedBackend, EventStore, dict[str, bool]]:
    slow = {"on": False}

    def latency(call: ScriptedCall) -> float:
        return 10.0 if slow["on"] and call.node == "n3" else 1.0

    team, backend, store = make_team(
        4,
        lambda c: f"Answer from {c.node}",
        latency_s=latency,
        resilience={"hedging": {"enabled": hedging, "min_samples": 4}},
    )
    return team, backend, store, slow


async def test_a_10x_straggler_is_hedged_and_the_first_answer_wins() -> None:
    team, _, store, slow = straggler_team(hedging=True)
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            for round_ in range(3):
                await fan_out(team, f"warm-up {round_}")
            slow["on"] = True
            start = loop.time()
            reply = await team.call("n3", "question")
            elapsed = loop.time() - start
            counters = layer(team).counters
    assert elapsed == pytest.approx(1.2 + 1.0)  # hedged at 1.2 x p95, the replica took 1 s
    assert reply.node == "n3" and reply.served_by == "n0" and reply.text == "Answer from n0"
    assert counters.hedges_sent == 1 and counters.hedges_won == 1
    assert counters.hedge_extra_tokens > 0
    events = store.events(team.run_id, types=["hedge_sent", "hedge_won", "hedge_cancelled"])
    assert [(e.type, e.node) for e in events] == [
        ("hedge_sent", "n3"),
        ("hedge_cancelled", "n3"),
        ("hedge_won", "n3"),
    ]
    assert events[0].data["to"] == "n0" and events[2].data["by"] == "hedge"


async def test_without_hedging_the_straggler_costs_its_full_latency() -> None:
    team, _, _, slow = straggler_team(hedging=False)
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            for round_ in range(3):
                await fan_out(team, f"warm-up {round_}")
            slow["on"] = True
            start = loop.time()
            await team.call("n3", "question")
            assert loop.time() - start == pytest.approx(10.0)


async def test_a_fast_primary_cancels_its_hedge() -> None:
    latencies = iter([1.0] * 12 + [1.5, 1.0])

    team, _, store = make_team(
        4,
        lambda c: f"from {c.node}",
        latency_s=lambda c: next(latencies),
        resilience={"hedging": {"enabled": True, "min_samples": 4}},
    )
    with VirtualClock():
        async with team:
            for round_ in range(3):
                await fan_out(team, f"w{round_}")
            reply = await team.call("n3", "q")  # primary 1.5 s, hedge at 1.2 s takes 1.0 s
    assert reply.served_by is None
    won = store.events(team.run_id, types=["hedge_won"])
    assert won[0].data["by"] == "primary"
    [cancelled] = store.events(team.run_id, types=["hedge_cancelled"])
    assert cancelled.node == "n0"


async def test_cancelling_the_caller_cancels_the_primary_and_the_hedge() -> None:
    team, _, _, slow = straggler_team(hedging=True)
    with VirtualClock():
        async with team:
            for round_ in range(3):
                await fan_out(team, f"warm-up {round_}")
            slow["on"] = True
            call = asyncio.ensure_future(team.call("n3", "question"))
            await asyncio.sleep(1.21)
            assert layer(team).counters.hedges_sent == 1
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await asyncio.sleep(0)
            stats = team.runtime.statistics()
            assert all(s.in_flight == 0 for s in stats.values())
            assert all(v == 0 for v in layer(team).in_flight.values())
            current = asyncio.current_task()
            assert [t for t in asyncio.all_tasks() if t is not current] == []


# -- breakers ------------------------------------------------------------------------------


async def test_a_flapping_endpoint_opens_and_closes_its_breaker() -> None:
    def flapping(call: ScriptedCall) -> str | BaseException:
        now = asyncio.get_running_loop().time()
        if 10 <= now < 30:
            return ModelUnavailable("503 from the endpoint")
        return "ok"

    team, backend, store = make_team(
        1,
        flapping,
        latency_s=0.1,
        resilience={
            "retries": {"max_attempts": 1},
            "breaker": {"failure_threshold": 3, "reset_s": 5, "max_reset_s": 5},
            "health": {"suspect_after": 50, "dead_after": 50},
        },
    )
    outcomes = []
    with VirtualClock():
        async with team:
            for _ in range(60):
                try:
                    await team.call("n0", "q")
                    outcomes.append("ok")
                except ModelError as exc:
                    outcomes.append(type(exc).__name__)
                await asyncio.sleep(0.9)
            breaker = layer(team).statistics().breakers["scripted"]
    transitions = [e.type for e in store.events(team.run_id) if e.type.startswith("breaker_")]
    assert transitions[:3] == ["breaker_opened", "breaker_half_open", "breaker_opened"]
    assert transitions[-2:] == ["breaker_half_open", "breaker_closed"]
    assert breaker.state is BreakerState.CLOSED and breaker.opened >= 2
    assert outcomes[-1] == "ok" and "CircuitOpen" in outcomes
    assert backend.calls < len(outcomes)  # refused calls never reached the dead endpoint
    assert breaker.refused == outcomes.count("CircuitOpen")


async def test_an_open_breaker_sends_work_to_a_node_on_another_endpoint() -> None:
    team, _, store = make_team(2, lambda c: "ok", latency_s=0.1, resilience={})
    with VirtualClock():
        async with team:
            breaker = layer(team).breakers["scripted"]
            for i in range(5):
                breaker.on_failure(float(i))
            assert breaker.state is BreakerState.OPEN
            # One endpoint for both nodes: nowhere to go, so the call waits for the probe.
            loop = asyncio.get_running_loop()
            start = loop.time()
            reply = await team.call("n0", "q")
            assert reply.text == "ok" and loop.time() - start >= 29
    assert "breaker_closed" in kinds(store, team.run_id)


# -- retries -------------------------------------------------------------------------------


async def test_permanent_errors_are_not_retried() -> None:
    team, backend, store = make_team(2, lambda c: InvalidRequest("400 bad request"), resilience={})
    with VirtualClock():
        async with team:
            with pytest.raises(InvalidRequest):
                await team.call("n0", "q")
            assert layer(team).health.state("n0") is NodeState.HEALTHY  # not the node's fault
    assert backend.calls == 1
    assert "retry" not in kinds(store, team.run_id)


async def test_transient_errors_are_retried_with_backoff_then_given_up() -> None:
    team, backend, store = make_team(
        1,
        lambda c: ModelUnavailable("503"),
        latency_s=0,
        resilience={
            "retries": {"max_attempts": 4, "base_s": 1, "max_s": 8},
            "health": {"suspect_after": 10, "dead_after": 10},
        },
    )
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            with pytest.raises(ModelUnavailable):
                await team.call("n0", "q")
            waited = loop.time()
    retries = store.events(team.run_id, types=["retry"])
    assert backend.calls == 4 and [e.data["attempt"] for e in retries] == [1, 2, 3]
    delays = [e.data["delay_s"] for e in retries]
    assert all(0 <= d <= ceiling for d, ceiling in zip(delays, (1, 2, 4), strict=True))
    assert waited == pytest.approx(sum(delays), abs=1e-3)


async def test_retry_after_is_honoured_and_pauses_the_endpoint() -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        if call.index == 0:
            return RateLimited("429", retry_after_s=7)
        return f"ok {asyncio.get_running_loop().time():.1f}"

    team, backend, store = make_team(2, script, latency_s=0, resilience={})
    with VirtualClock():
        async with team:
            first = asyncio.ensure_future(team.call("n0", "a"))
            await asyncio.sleep(0.5)
            other = await team.call("n1", "b")  # same endpoint: held until Retry-After passes
            assert (await first).text == "ok 7.0"
            assert other.text == "ok 7.0"
    assert backend.calls == 3
    [limited] = store.events(team.run_id, types=["rate_limited"])
    assert limited.data == {"endpoint": "scripted", "retry_after_s": 7}
    assert store.events(team.run_id, types=["retry"])[0].data["delay_s"] >= 7


# -- rerouting and node health -------------------------------------------------------------


async def test_work_of_crashing_nodes_is_rerouted_and_every_request_completes() -> None:
    team, _, store = make_team(
        5,
        lambda c: f"done {c.prompt}",
        latency_s=1.0,
        resilience={"retries": {"base_s": 0.1}},
        faults={"nodes": {"n1": {"crash_after": 3}, "n3": {"crash_after": 5}}},
    )
    replies = []
    with VirtualClock():
        async with team:
            for wave in range(12):
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(team.call(f"n{i}", f"task {wave}/{i}", key=f"{wave}/{i}"))
                        for i in range(5)
                    ]
                replies += [t.result() for t in tasks]
            health = layer(team).statistics().nodes
    assert len(replies) == 60 and all(r.text.startswith("done task") for r in replies)
    served = Counter(r.served_by or r.node for r in replies)
    assert served["n1"] == 3 and served["n3"] == 5  # their calls before the crash
    assert health["n1"]["state"] == "dead" and health["n3"]["state"] == "dead"
    assert health["n0"]["state"] == "healthy"
    events = kinds(store, team.run_id)
    assert events["fault_injected"] == 2 and events["node_dead"] == 2
    rerouted = store.events(team.run_id, types=["rerouted"])
    assert {e.data["from"] for e in rerouted} == {"n1", "n3"}
    assert not {e.data["to"] for e in rerouted} & {"n1", "n3"}


async def test_same_role_replicas_take_the_work_first() -> None:
    team, _, _ = make_team(
        4,
        lambda c: "ok",
        roles=["coder", "writer"],
        resilience={},
        faults={"nodes": {"n0": {"crash_after": 0}}},
    )
    with VirtualClock():
        async with team:
            reply = await team.call("n0", "q")
    assert reply.served_by == "n2"  # n0 and n2 are the coders


async def test_adaptive_timeout_catches_a_hung_node_long_before_the_fixed_deadline() -> None:
    team, _, store = make_team(
        2,
        lambda c: "ok",
        latency_s=1.0,
        resilience={"timeouts": {"min_samples": 8, "factor": 3}, "retries": {"base_s": 0}},
        faults={"nodes": {"n0": {"crash_after": 8, "crash_mode": "hang"}}},
    )
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            for i in range(8):
                await team.call("n0", f"warm {i}")
            assert layer(team).timeout_s("n0") == pytest.approx(3.0)
            start = loop.time()
            reply = await team.call("n0", "q")
            elapsed = loop.time() - start
    assert reply.served_by == "n1" and elapsed == pytest.approx(3.0 + 1.0)
    failed = store.events(team.run_id, types=["call_failed"])
    assert failed[0].data["error"] == "ModelTimeout" and failed[0].node == "n0"


async def test_dead_nodes_are_probed_and_recover() -> None:
    down = {"on": True}

    def script(call: ScriptedCall) -> str | BaseException:
        if call.node == "n0" and down["on"]:
            return ModelUnavailable("connection refused")
        return f"ok from {call.node}"

    team, _, store = make_team(
        2,
        script,
        latency_s=0.1,
        resilience={
            "retries": {"base_s": 0},
            "health": {"suspect_after": 1, "dead_after": 2, "probe_after_s": 10},
            "breaker": {"enabled": False},
        },
    )
    with VirtualClock():
        async with team:
            for _ in range(3):
                await team.call("n0", "q")
            assert layer(team).health.state("n0") is NodeState.DEAD
            down["on"] = False
            await asyncio.sleep(10)
            reply = await team.call("n0", "q")  # the probe: n0 answers again
            assert reply.served_by is None and layer(team).health.state("n0") is NodeState.HEALTHY
    events = [e.type for e in store.events(team.run_id) if e.type.startswith("node_")]
    assert events == ["node_suspect", "node_dead", "node_recovered"]


async def test_heartbeat_silence_marks_a_node_suspect_then_dead_and_a_heartbeat_recovers() -> None:
    team, _, store = make_team(2, lambda c: "ok", latency_s=0.1, resilience={})
    with VirtualClock():
        async with team:
            resilience = layer(team)
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(resilience.watch(0.25))
                for _ in range(10):
                    team.heartbeat("n0")
                    await asyncio.sleep(1.0)
                await asyncio.sleep(4.0)  # silence
                assert resilience.health.state("n0") is NodeState.DEAD
                reply = await team.call("n0", "q")
                assert reply.served_by == "n1"
                team.heartbeat("n0")
                assert resilience.health.state("n0") is NodeState.HEALTHY
                watcher.cancel()
    events = [(e.type, e.data.get("reason")) for e in store.events(team.run_id)]
    node_events = [e for e in events if e[0].startswith("node_")]
    assert node_events == [
        ("node_suspect", "heartbeat silence"),
        ("node_dead", "heartbeat silence"),
        ("node_recovered", "heartbeat"),
    ]


# -- output validation ---------------------------------------------------------------------


async def test_an_empty_reply_is_retried_with_feedback() -> None:
    seen: list[list[str]] = []

    def script(call: ScriptedCall) -> str:
        seen.append([m.content for m in call.messages])
        return "Answer: 4" if "rejected" in call.prompt else ""

    team, backend, store = make_team(
        1,
        script,
        resilience={"health": {"suspect_after": 2, "dead_after": 3}},
    )
    with VirtualClock():
        async with team:
            reply = await team.call("n0", "What is 2 + 2?")
    assert reply.text == "Answer: 4" and backend.calls == 2
    assert seen[1][-3:] == [
        "What is 2 + 2?",
        "",
        "Your previous reply was rejected: the reply is empty. Please answer again.",
    ]
    [rejected] = store.events(team.run_id, types=["output_rejected"])
    assert rejected.data["problem"] == "the reply is empty"
    assert store.events(team.run_id, types=["retry"])[0].data["feedback"] is True


async def test_a_per_call_schema_check_works_without_a_resilience_section() -> None:
    replies = iter(['{"task": "t9"}', '{"task": "t1"}', '{"task": "t9"}'])
    schema = {"type": "object", "properties": {"task": {"enum": ["t1", "t2"]}}}
    team, backend, _ = make_team(1, lambda c: next(replies), latency_s=0)
    async with team:
        reply = await team.call("n0", "pick", validate=OutputRules(json_schema=schema))
        assert reply.text == '{"task": "t1"}' and backend.calls == 2
        assert team.resilience is None  # calls without a check keep the fast path
        with pytest.raises(BadOutput, match="does not match the schema"):
            await team.call("n0", "pick", validate=OutputRules(json_schema=schema, max_retries=0))


# -- rate limits ---------------------------------------------------------------------------


async def test_rate_limit_paces_calls_across_nodes_sharing_an_endpoint() -> None:
    started: list[float] = []

    def script(call: ScriptedCall) -> str:
        started.append(asyncio.get_running_loop().time())
        return "ok"

    team, _, store = make_team(
        3,
        script,
        latency_s=0,
        resilience={"rate_limits": {"scripted": {"requests_per_minute": 60, "burst_s": 2}}},
    )
    with VirtualClock():
        async with team, asyncio.TaskGroup() as group:
            for i in range(9):
                group.create_task(team.call(f"n{i % 3}", f"q{i}"))
    assert started == pytest.approx([0, 0, 1, 2, 3, 4, 5, 6, 7])
    waits = store.events(team.run_id, types=["rate_limit_wait"])
    assert waits and waits[0].data["limit"] == "requests_per_minute"


# -- budgets -------------------------------------------------------------------------------


async def test_budget_stop_is_clean_and_keeps_partial_results() -> None:
    team, backend, store = make_team(
        2, lambda c: "Answer: 7 " + "x" * 40, latency_s=0, budget={"max_tokens": 100}
    )
    done = []
    async with team:
        with pytest.raises(BudgetStop):
            for i in range(100):
                done.append(await team.call(f"n{i % 2}", f"question {i}"))
        team.result = {"answers": len(done)}
        with pytest.raises(BudgetStop):  # the run stays stopped
            await team.call("n0", "one more")
    assert 0 < len(done) < 100 and backend.calls == len(done)
    run = store.run(team.run_id)
    assert run.status == "stopped" and run.result is not None
    assert run.result["answers"] == len(done) and "token budget of 100" in run.result["stopped"]
    assert kinds(store, team.run_id)["budget_exceeded"] == 1


async def test_a_budget_stop_escaping_the_run_still_stops_it_cleanly() -> None:
    team, _, store = make_team(1, lambda c: "Answer: 1", latency_s=0, budget={"max_tokens": 1})
    with pytest.raises(BaseExceptionGroup) as info:
        async with team, asyncio.TaskGroup() as group:
            for i in range(3):
                group.create_task(team.call("n0", f"q{i}"))
    assert info.group_contains(BudgetExceeded)
    run = store.run(team.run_id)
    assert run.status == "stopped" and "budget" in (run.result or {})["stopped"]


async def test_strict_budget_is_never_exceeded_and_ask_reports_partial_answers() -> None:
    from lmteams.strategies.ask import ask

    spec, backends = scripted_team(5, lambda c: "Answer: 4", max_tokens=20, latency_s=1.0)
    # Each call may spend its prompt (14 tokens with the system prompt) + 20: two fit in 70.
    spec = spec.model_copy(update={"budget": BudgetSpec(max_tokens=70, strict=True)})
    store = EventStore(":memory:")
    with VirtualClock():
        result = await ask(spec, "What is 2 + 2?", store, backends=backends)
    statuses = [n.status for n in result.nodes]
    assert statuses.count("done") == 2 and result.answer == "4"
    failed = [n for n in result.nodes if n.status == "failed"]
    assert all("BudgetStop" in (n.error or "") for n in failed)
    assert result.prompt_tokens + result.completion_tokens <= 70
    run = store.run(result.run_id)
    assert run.status == "stopped" and run.result is not None and run.result["answer"] == "4"


async def test_cost_budget_from_model_prices() -> None:
    from lmteams.config import ModelSpec, Prices

    team, _, _store = make_team(1, lambda c: "Answer: 1", latency_s=0, budget={"max_cost": 0.001})
    prices = Prices(input_per_mtok=100, output_per_mtok=100)
    team.spec = team.spec.model_copy(
        update={"models": {"scripted": ModelSpec(backend="scripted", prices=prices)}}
    )
    calls = 0
    async with team:
        with pytest.raises(BudgetStop, match="cost budget"):
            for _ in range(100):
                await team.call("n0", "q")
                calls += 1
        spent = layer(team).statistics().budget
    assert spent is not None and 0.001 <= float(spent["cost"]) < 0.0015  # type: ignore[arg-type]
    assert calls < 100


# -- the log and resume --------------------------------------------------------------------


async def test_keyed_calls_served_by_another_node_replay_on_resume() -> None:
    team, backend, store = make_team(
        2,
        lambda c: f"answer from {c.node}",
        latency_s=0,
        resilience={},
        faults={"nodes": {"n0": {"crash_after": 0}}},
    )
    async with team:
        first = await team.call("n0", "q", key="task-1")
    assert first.served_by == "n1"
    calls = backend.calls
    again = Team(
        team.spec,
        store,
        kind="test",
        backends={"scripted": backend},
        run_id=team.run_id,
        resume=True,
    )
    async with again:
        replayed = await again.call("n0", "q", key="task-1")
    assert replayed == first and backend.calls == calls and again.replayed == 1


async def test_retry_requests_name_their_logical_call() -> None:
    outcomes = iter([ModelUnavailable("503"), "ok"])
    team, _, store = make_team(
        1,
        lambda c: next(outcomes),
        latency_s=0,
        resilience={"retries": {"base_s": 0}},
    )
    async with team:
        await team.call("n0", "q", meta={"attempt": 7})
    requests = [e.data for e in store.events(team.run_id, types=["message"])]
    requests = [r for r in requests if r["kind"] == "request"]
    assert len(requests) == 2
    first, retry = requests
    assert retry["payload"]["meta"]["attempt"] == 7  # the caller's meta is untouched
    assert retry["payload"]["meta"]["delivery"] == {"first_id": first["id"], "try": 2}


async def test_statistics_are_a_live_view() -> None:
    team, _, _ = make_team(
        2, lambda c: "ok", latency_s=0.5, resilience={}, budget={"max_tokens": 10_000}
    )
    with VirtualClock():
        async with team:
            await fan_out(team, "q")
            stats = team.statistics()
    assert stats.totals.calls == 2 and stats.resilience is not None
    assert stats.resilience.nodes["n0"]["state"] == "healthy"
    assert stats.resilience.nodes["n0"]["latency_p50_s"] == pytest.approx(0.5)
    assert stats.resilience.breakers["scripted"].state is BreakerState.CLOSED
    assert stats.resilience.budget is not None and stats.resilience.budget["tokens"] > 0


async def test_a_node_gets_one_chance_to_fix_its_reply_then_the_call_moves() -> None:
    served: list[str | None] = []

    def script(call: ScriptedCall) -> str:
        served.append(call.node)
        return "" if call.node == "n0" else "Answer: 4"

    team, _, _ = make_team(2, script, resilience={"validation": {"max_retries": 2}})
    with VirtualClock():
        async with team:
            reply = await team.call("n0", "What is 2 + 2?")
    assert served == ["n0", "n0", "n1"]
    assert reply.text == "Answer: 4" and reply.served_by == "n1"
