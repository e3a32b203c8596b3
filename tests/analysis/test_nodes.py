"""The nodes report: a team's nodes with what the log has learned of their reliability."""

from __future__ import annotations

from lmteams.analysis.nodes import nodes_report
from lmteams.config import parse_team
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask

TEAM = {
    "name": "report",
    "models": {
        "m": {"backend": "scripted", "answers": {"q1": "Answer: 1"}, "default": "Answer: 0"}
    },
    "nodes": [
        {"name": "a", "role": "solver", "weight": 2},
        {"name": "b", "role": "critic", "temperature": 0},
        {"name": "c", "role": "judge"},
    ],
}


async def test_the_report_before_and_after_learned_answers(store: EventStore) -> None:
    spec = parse_team(TEAM, source="team")
    before = nodes_report(spec, store)
    assert before.team == "report" and before.meta_model is None
    assert [(r.node, r.role, r.model, r.backend, r.weight) for r in before.nodes] == [
        ("a", "solver", "m", "scripted", 2.0),
        ("b", "critic", "m", "scripted", 1.0),
        ("c", "judge", "m", "scripted", 1.0),
    ]
    assert [r.temperature for r in before.nodes] == [0.7, 0.0, 0.7]
    assert all(r.reliability is None and r.answered == 0 for r in before.nodes)
    for question in ("q1", "q2"):
        await ask(spec, question, store, consensus="learned")
    after = nodes_report(spec, store)
    assert all(r.reliability is not None and 0.0 < r.reliability < 1.0 for r in after.nodes)
    assert all(r.answered == 2 for r in after.nodes)
    assert (
        nodes_report(parse_team({**TEAM, "name": "other"}, source="t"), store).nodes[0].answered
        == 0
    )
