"""The gentest strategy with scripted coders and the real sandbox."""

from __future__ import annotations

from lmteams.config import TeamSpec
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import scripted_team

QUESTION = """Write a Python function `is_prime(n)` that says whether n is a prime number.

```python
assert is_prime(7)
assert not is_prime(9)
```"""

GOOD = "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))"
ALSO_GOOD = (
    "def is_prime(n):\n    if n < 2:\n        return False\n"
    "    for d in range(2, n):\n        if n % d == 0:\n            return False\n    return True"
)
LOOKUP = "def is_prime(n):\n    return n in (2, 3, 5, 7)"  # passes the given tests only
WRONG = "def is_prime(n):\n    return n % 2 == 1"  # fails them: 9 is odd
BROKEN = "def is_prime(n)\n    return True"

INPUTS = "```python\nis_prime(1)\nis_prime(2)\nis_prime(11)\nis_prime(97)\n```"


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


def coders(
    replies: list[str],
) -> tuple[TeamSpec, dict[str, ModelBackend], list[ScriptedCall]]:
    calls: list[ScriptedCall] = []

    def script(call: ScriptedCall) -> str:
        calls.append(call)
        if "example calls" in call.prompt:
            return INPUTS
        return replies[int((call.node or "n0")[1:])]

    spec, backends = scripted_team(len(replies), script)
    return spec, backends, calls


async def test_the_largest_agreeing_cluster_of_passing_candidates_wins(store: EventStore) -> None:
    spec, backends, calls = coders(
        [fence(LOOKUP), fence(GOOD), fence(ALSO_GOOD), fence(WRONG), "I would loop.", fence(BROKEN)]
    )
    result = await ask(spec, QUESTION, store, backends=backends, consensus="gentest")
    assert result.answer == GOOD and result.consensus == "gentest"
    assert result.support == 2 and result.valid_votes == 3
    assert result.decided_by.startswith("gentest: 3 of 6 candidates passed")
    clusters = result.detail["clusters"]
    assert [c["members"] for c in clusters] == [["n1", "n2"], ["n0"]]
    assert clusters[0]["outputs"] == ["False", "True", "True", "True"]
    assert clusters[1]["outputs"] == ["False", "True", "False", "False"]
    assert result.detail["inputs"] == ["is_prime(1)", "is_prime(2)", "is_prime(11)", "is_prime(97)"]
    failed = result.detail["failed"]
    assert failed == {
        "3:n3": "the given tests fail",
        "4:n4": "no Python code block",
        "5:n5": "the code does not load",
    }
    assert [n.status for n in result.nodes] == ["done"] * 3 + ["failed"] * 3
    assert result.calls == 7  # six candidates and the inputs
    assert sum("example calls" in c.prompt for c in calls) == 1
    runs = store.events(result.run_id, types=["gentest_run"])
    assert len(runs) == 6 and any(e.data.get("program") == GOOD for e in runs)


async def test_without_team_written_inputs_passing_candidates_tie(store: EventStore) -> None:
    spec, backends, calls = coders([fence(LOOKUP), fence(GOOD), fence(WRONG)])
    result = await ask(
        spec,
        QUESTION,
        store,
        backends=backends,
        consensus="gentest",
        options={"test_inputs": 0},
    )
    assert result.calls == 3 and not any("example calls" in c.prompt for c in calls)
    assert result.detail["clusters"] == [{"size": 2, "members": ["n0", "n1"], "outputs": []}]
    assert result.answer == LOOKUP  # the given tests alone cannot tell these apart


async def test_more_candidates_than_coders_sample_again(store: EventStore) -> None:
    spec, backends, calls = coders([fence(GOOD), fence(GOOD)])
    result = await ask(
        spec,
        QUESTION,
        store,
        backends=backends,
        consensus="gentest",
        options={"candidates": 5, "test_inputs": 0},
    )
    assert result.detail["candidates"] == 5 and [n.node for n in result.nodes] == [
        "n0",
        "n1",
        "n0",
        "n1",
        "n0",
    ]
    seeds = sorted(c.sampling.seed or 0 for c in calls if c.node == "n0")
    assert len(set(seeds)) == 3  # each repeat samples with another seed


async def test_no_passing_candidate_and_no_tests(store: EventStore) -> None:
    spec, backends, _ = coders([fence(WRONG), fence("while True:\n    pass")])
    result = await ask(
        spec,
        QUESTION,
        store,
        backends=backends,
        consensus="gentest",
        options={"run_time_limit_s": 3, "test_inputs": 0},
    )
    assert result.answer is None and result.decided_by == "no candidate passed the tests"
    assert result.detail["failed"] == {"0:n0": "the given tests fail", "1:n1": "timed out"}
    spec, backends, _ = coders([fence(GOOD)])
    untested = await ask(
        spec,
        "Write is_prime(n).",
        store,
        backends=backends,
        consensus="gentest",
    )
    assert untested.answer == GOOD and untested.detail["tests"] is False
    assert "the question gives no tests" in untested.decided_by
