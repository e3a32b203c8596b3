from __future__ import annotations

import functools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.analysis.metrics import (
    COUNTED,
    RunMetrics,
    _union_length,
    compute,
    lower_bound_of,
    observed_lower_bound,
    with_baseline,
)
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.project import load_project
from lmteams.state.events import EVENT_MODELS
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY, dags


def test_union_of_intervals() -> None:
    assert _union_length([(0, 2), (1, 3), (5, 6)]) == 4
    assert _union_length([]) == 0


def test_lower_bound_from_measured_durations() -> None:
    from lmteams.analysis.metrics import TaskSpan

    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", [])])
    spans = [
        TaskSpan(task="a", node="x", start=0, end=2, outcome="done"),
        TaskSpan(task="b", node="x", start=2, end=3, outcome="done"),
        TaskSpan(task="c", node="y", start=0, end=5, outcome="done"),
    ]
    assert observed_lower_bound(graph, spans, 2) == 5  # max(chain 3, c alone 5, work 8/2)


async def test_metrics_of_a_run(store: EventStore) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))
    graph = project.graph()
    results = {}
    for n in (1, 2):
        spec, backends = scripted_team(n, project_script, latency_s=1.0)
        with VirtualClock():
            results[n] = await run_project(
                spec, project, store, RunSettings(topology="steal", workers=n), backends=backends
            )
    single = compute(results[1].run_id, store.events(results[1].run_id), graph)
    double = compute(results[2].run_id, store.events(results[2].run_id), graph)
    assert single.makespan_s == pytest.approx(20) and double.makespan_s == pytest.approx(10)
    assert double.tasks_done == 20 and double.calls == 20 and double.messages == 40
    assert double.prompt_tokens > 0 and double.completion_tokens > 0
    assert sum(n.tasks_done for n in double.nodes) == 20
    assert all(n.busy_s == pytest.approx(10) and n.idle_s == pytest.approx(0) for n in double.nodes)
    assert double.p == 0.5 and double.critical_path == 10
    assert double.amdahl_speedup == pytest.approx(4 / 3)
    assert double.lower_bound_s == pytest.approx(10) and double.bound_ratio == pytest.approx(1.0)
    assert double.straggler_gap_max_s >= double.straggler_gap_s
    full = with_baseline(double, single)
    assert full.speedup == pytest.approx(2.0) and full.efficiency == pytest.approx(1.0)
    assert {s.node for s in double.spans} == {"n0", "n1"}


async def test_straggler_gap_and_counts(store: EventStore) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    spec, backends = scripted_team(
        3, project_script, latency_s=lambda call: 5.0 if call.node == "n2" else 1.0
    )
    with VirtualClock():
        result = await run_project(
            spec, project, store, RunSettings(topology="preassign", workers=3), backends=backends
        )
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert metrics.straggler_gap_s > 1.0  # n2 finishes its level late
    assert metrics.steals == 0


@given(dags(), st.randoms(use_true_random=False), st.integers(1, 6))
def test_lower_bound_is_the_longest_measured_path_or_the_work_per_node(
    tasks: list[tuple[str, list[str]]], rnd: random.Random, workers: int
) -> None:
    graph = TaskGraph.build(tasks)
    measured = {t: rnd.choice([0.0, 0.25, 1.0, 3.5]) for t, _ in tasks if rnd.random() < 0.8}
    deps = dict(tasks)

    @functools.cache
    def finish(task: str) -> float:  # tasks not measured take no time
        return measured.get(task, 0.0) + max((finish(d) for d in deps[task]), default=0.0)

    expected = max(max(finish(t) for t, _ in tasks), sum(measured.values()) / workers)
    assert lower_bound_of(graph, measured, workers) == expected


def test_every_counted_metric_is_a_field_that_counts_a_declared_event() -> None:
    # Counts compute() keeps under names of their own (a failed check, a hedge won by its
    # copy, tokens); every other one is the number of logged events of its type.
    own = {"check_failed", "read_only_refused", "hedges_won_by_copy", "hedge_extra_tokens"}
    own.add("estimated_tokens")
    assert set(COUNTED) <= set(RunMetrics.model_fields)
    assert set(COUNTED.values()) - own <= set(EVENT_MODELS)
