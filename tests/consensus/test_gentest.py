from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.gentest import (
    PROBE_MARKER,
    Run,
    clusters,
    failure,
    given_tests,
    harness_files,
    inputs_prompt,
    parse_inputs,
    probe_outputs,
    signature,
)

QUESTION = """Write `is_prime(n)`.

```python
assert is_prime(7)
assert not is_prime(9)
```
assert is_prime(2)
"""


def test_given_tests_are_the_asserting_blocks_and_lines() -> None:
    tests = given_tests(QUESTION)
    assert "assert is_prime(7)" in tests and "assert not is_prime(9)" in tests
    assert tests.endswith("assert is_prime(2)")
    assert given_tests("Write f.\n```python\ndef f(): pass\n```") == ""  # no assert: no test
    assert given_tests("assert (broken") == ""


def test_inputs_are_distinct_calls() -> None:
    reply = "```python\nis_prime(1)\n>>> is_prime(0)\nprint(is_prime(97))\nassert is_prime(4) == False\nx = 3\nis_prime(1)\n# note\n```"
    assert parse_inputs(reply, 10) == ["is_prime(1)", "is_prime(0)", "is_prime(97)", "is_prime(4)"]
    assert parse_inputs(reply, 2) == ["is_prime(1)", "is_prime(0)"]
    assert parse_inputs("no code here", 3) == []
    assert "3 different example calls" in inputs_prompt("task", 3)


def test_harness_files_and_probe_outputs() -> None:
    files = harness_files("def f(x): return x", "assert f(1) == 1", ["f(2)"])
    assert set(files) == {"main.py", "solution.py", "tests.py", "inputs.json"}
    assert json.loads(files["inputs.json"]) == ["f(2)"]
    compile(files["main.py"], "main.py", "exec")  # the harness is valid Python
    assert probe_outputs(f'noise\n{PROBE_MARKER}["2", "raised KeyError"]\n') == (
        "2",
        "raised KeyError",
    )
    assert probe_outputs("nothing") is None
    assert probe_outputs(f"{PROBE_MARKER}not json") is None
    assert probe_outputs(f"{PROBE_MARKER}[1, 2]") is None


def test_failures_say_why() -> None:
    assert failure(None, True) == "timed out"
    assert failure(3, False) == "the code does not load"
    assert failure(4, False) == "the given tests fail"
    assert failure(1, False) == "exit code 1"


def test_largest_cluster_first_ties_by_first_member() -> None:
    runs = [
        Run(0, "a", True, ("1",)),
        Run(1, "b", True, ("2",)),
        Run(2, "c", False, problem="the given tests fail"),
        Run(3, "d", True, ("2",)),
        Run(4, "e", True, ("3",)),
    ]
    found = clusters(runs)
    assert [(c.members, c.outputs) for c in found] == [
        ((1, 3), ("2",)),
        ((0,), ("1",)),
        ((4,), ("3",)),
    ]
    assert found[0].signature == signature(["2"]) != signature(["1"])
    assert clusters([Run(0, "a", False)]) == []


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b", "c"])), max_size=12))
def test_clusters_partition_the_passing_runs(spec: list[tuple[bool, str]]) -> None:
    runs = [Run(i, f"n{i}", passed, (out,)) for i, (passed, out) in enumerate(spec)]
    found = clusters(runs)
    members = [m for c in found for m in c.members]
    assert sorted(members) == [r.index for r in runs if r.passed]
    assert [c.size for c in found] == sorted((c.size for c in found), reverse=True)
    assert all(len({runs[m].outputs for m in c.members}) == 1 for c in found)
