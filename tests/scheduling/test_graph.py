from __future__ import annotations

import functools
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.scheduling.graph import GraphError, TaskGraph, amdahl
from lmteams.scheduling.project import load_project

PAPER = Path(__file__).resolve().parents[3] / "shared" / "paper" / "tasks"
STUDY = sorted(PAPER.glob("*.json"))


def test_study_files_are_present() -> None:
    assert len(STUDY) == 9


@pytest.mark.parametrize("path", STUDY, ids=lambda p: p.stem)
def test_study_graphs_match_the_studys_c_and_p(path: Path) -> None:
    graph = load_project(path).graph()
    expected = {"p02": (16, 0.2), "p05": (10, 0.5), "p09": (2, 0.9)}[path.stem.rsplit("_", 1)[1]]
    assert graph.n == 20
    assert (graph.c, round(graph.p, 2)) == expected
    assert len(graph.critical_path) == graph.c


def test_amdahl_and_bounds() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", []), ("d", [])])
    assert graph.c == 2 and graph.p == 0.5
    assert amdahl(0.5, 2) == pytest.approx(4 / 3)
    assert graph.lower_bound(1) == 4 and graph.lower_bound(2) == 2 and graph.lower_bound(8) == 2
    assert graph.critical_path == ("a", "b")


def test_estimates_weight_the_critical_path() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", [])], {"a": 1, "b": 1, "c": 5})
    assert graph.c == 2  # in tasks
    assert graph.critical_time == 5  # in expected time
    assert graph.lower_bound_time(2) == pytest.approx(5)


def test_recommended_workers_stops_when_the_bound_flattens() -> None:
    chain_plus_free = TaskGraph.build(
        [(f"c{i}", [f"c{i - 1}"] if i else []) for i in range(4)] + [("f", [])]
    )
    assert chain_plus_free.recommended_workers() == 2
    twenty = TaskGraph.build([(f"t{i}", []) for i in range(20)])
    assert twenty.recommended_workers() == 5  # 6 workers still need 4 rounds of unit tasks
    many = TaskGraph.build([(f"t{i}", []) for i in range(200)])
    assert many.recommended_workers() == 8  # 9 workers: 23 rounds instead of 25, under 10%


def test_duplicate_ids() -> None:
    with pytest.raises(GraphError, match="duplicate task id 'a'"):
        TaskGraph.build([("a", []), ("a", [])])


def test_unknown_dependency() -> None:
    with pytest.raises(GraphError, match="depends on unknown task 'zz'"):
        TaskGraph.build([("a", ["zz"])])


def test_cycle_is_named() -> None:
    with pytest.raises(GraphError) as info:
        TaskGraph.build([("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", [])])
    message = str(info.value)
    assert message.startswith("dependency cycle: ")
    steps = message.removeprefix("dependency cycle: ").split(" -> ")
    assert len(steps) == 4 and steps[0] == steps[-1] and set(steps) == {"a", "b", "c"}


def test_self_dependency() -> None:
    with pytest.raises(GraphError, match="depends on itself"):
        TaskGraph.build([("a", ["a"])])


def test_empty() -> None:
    with pytest.raises(GraphError, match="no tasks"):
        TaskGraph.build([])


@st.composite
def dags(draw: st.DrawFn, max_size: int = 30) -> list[tuple[str, list[str]]]:
    n = draw(st.integers(1, max_size))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tasks.append((f"t{i}", [f"t{d}" for d in deps]))
    return tasks


@given(dags())
def test_topological_order_respects_dependencies(tasks: list[tuple[str, list[str]]]) -> None:
    graph = TaskGraph.build(tasks)
    position = {t: i for i, t in enumerate(graph.topological_order)}
    assert sorted(position) == sorted(graph.ids)
    for task, deps in tasks:
        for dep in deps:
            assert position[dep] < position[task]
    assert 1 <= graph.c <= graph.n
    assert 0 <= graph.p < 1
    for n in (1, 2, 7):
        assert graph.n / graph.lower_bound(n) <= n + 1e-9


def stable_order(tasks: list[tuple[str, list[str]]]) -> list[str]:
    """Reference: repeatedly take the ready task listed first in the file."""
    done: set[str] = set()
    order: list[str] = []
    while len(order) < len(tasks):
        task = next(t for t, deps in tasks if t not in done and all(d in done for d in deps))
        order.append(task)
        done.add(task)
    return order


def listings(
    tasks: list[tuple[str, list[str]]], rnd: random.Random
) -> tuple[list[tuple[str, list[str]]], ...]:
    """The tasks as drawn (each after its prerequisites) and shuffled (rarely in order)."""
    shuffled = list(tasks)
    rnd.shuffle(shuffled)
    return tasks, shuffled


@given(dags(), st.randoms(use_true_random=False))
def test_topological_order_is_the_stable_one_in_any_file_order(
    tasks: list[tuple[str, list[str]]], rnd: random.Random
) -> None:
    for listing in listings(tasks, rnd):
        assert list(TaskGraph.build(listing).topological_order) == stable_order(listing)
    # listed with every prerequisite first, the file order is the order
    assert TaskGraph.build(tasks).topological_order == tuple(t for t, _ in tasks)


@given(dags(), st.randoms(use_true_random=False))
def test_depths_and_tails_are_the_longest_chains(
    tasks: list[tuple[str, list[str]]], rnd: random.Random
) -> None:
    durations = {t: rnd.choice([0.5, 1.0, 2.0, 3.5]) for t, _ in tasks}
    graph = TaskGraph.build(tasks, durations)
    deps = dict(tasks)
    children = {t: [c for c, ds in tasks if t in ds] for t, _ in tasks}

    @functools.cache
    def depth(t: str) -> int:
        return 1 + max((depth(d) for d in deps[t]), default=0)

    @functools.cache
    def tail(t: str) -> float:
        return durations[t] + max((tail(c) for c in children[t]), default=0.0)

    assert graph.depth == {t: depth(t) for t, _ in tasks}
    assert graph.tail == {t: tail(t) for t, _ in tasks}
