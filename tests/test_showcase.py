"""`lmteams.showcase`: members alone beside the team, scored as eval scores, with evidence."""

from __future__ import annotations

from lmteams.consensus.datasets import Item
from lmteams.models.scripted import ScriptedCall
from lmteams.showcase import showcase
from lmteams.state.store import EventStore
from lmteams.testing import event_types, scripted_team

ITEMS = [
    Item(question="What is 347 * 89?", answer="30883"),
    Item(question="What day of the week was 2024-03-15?", answer="Friday"),
]


def guesses_but_programs_right(call: ScriptedCall) -> str:
    """A node that guesses wrong alone, but writes a correct program when asked for one."""
    prompt = call.prompt
    if "program" in prompt.lower():
        if "347" in prompt:
            return "```python\nprint(347 * 89)\n```"
        return "```python\nimport datetime\nprint(datetime.date(2024, 3, 15).strftime('%A'))\n```"
    if "347" in prompt:
        return "The product is 29933.\nAnswer: 29933"
    return "Answer: Friday" if call.node == "n1" else "Answer: Wednesday"


async def test_members_alone_and_the_team_side_by_side(store: EventStore) -> None:
    spec, backends = scripted_team(2, guesses_but_programs_right, roles=["coder"])
    steps: list[str] = []
    result = await showcase(
        spec, ITEMS, store, strategy="program", on_step=steps.append, backends=backends
    )
    assert result.members == ["n0", "n1"]
    first, second = result.items
    assert [m.correct for m in first.members] == [False, False]
    assert first.members[0].answer == "29933"
    assert first.team.answer == "30883" and first.team.correct
    assert first.evidence is not None and "347 * 89" in first.evidence.program
    assert first.evidence.printed == "30883"
    assert [m.correct for m in second.members] == [False, True]  # a sentence-free day name
    assert second.team.correct
    assert (result.right("n0"), result.right("n1"), result.right("team")) == (0, 1, 2)
    # one plain progress line per answer, members first
    assert len(steps) == 6 and steps[0].startswith("[1/2] n0 alone: '29933' (wrong)")
    assert steps[2] == "[1/2] team (program): '30883' (right)"
    # every answer is its own logged ask run, the team's with its program beside it
    assert "program_run" in event_types(store, first.team.run_id)
    assert "program_run" not in event_types(store, first.members[0].run_id)


async def test_a_vote_strategy_has_no_program_evidence(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda call: "Answer: 30883")
    result = await showcase(spec, ITEMS[:1], store, strategy="majority", backends=backends)
    assert result.items[0].team.correct and result.items[0].evidence is None
    assert result.strategy == "majority"
