"""The resilience layer and fault injection on the real embedded model (SmolLM2-135M)."""

from __future__ import annotations

import pytest

from lmteams.config import parse_team
from lmteams.faults.injection.rules import apply_inject
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask

pytestmark = [pytest.mark.model, pytest.mark.slow]

TEAM = {
    "models": {"smollm2": {"backend": "embedded", "n_parallel": 4, "ctx_per_slot": 1024}},
    "defaults": {"model": "smollm2", "max_tokens": 24, "temperature": 0.2},
    "resilience": {"retries": {"base_s": 0}},
    "nodes": [
        {"name": n, "role": "solver", "seed": i, "system_prompt": "Answer with the number."}
        for i, n in enumerate("abc")
    ],
}


async def test_a_crashed_and_a_garbage_node_do_not_cost_the_team_an_answer(
    store: EventStore,
) -> None:
    spec = apply_inject(parse_team(TEAM, source="test"), ["c:crash=0", "b:garbage=1"])
    result = await ask(spec, "What is 2 + 3?", store)
    assert [n.status for n in result.nodes] == ["done", "done", "done"]
    assert all(n.reply and n.reply.strip() for n in result.nodes)
    events = {e.type for e in store.events(result.run_id)}
    assert {"fault_injected", "rerouted", "output_rejected", "retry"} <= events
    # c's slot was answered by a healthy node; b's garbage was caught and answered again.
    rerouted = store.events(result.run_id, types=["rerouted"])
    assert rerouted[0].data["from"] == "c"
