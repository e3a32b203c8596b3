from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.lead import LeadPolicy
from lmteams.scheduling.policy import Assign, Note, RequestAssignment
from lmteams.scheduling.preassign import PreassignPolicy, StealPolicy, chains, place
from lmteams.scheduling.project import load_project
from lmteams.scheduling.topologies import eligibility, make_policy

from .driver import drive, first_pending, first_ready, greedy_lead
from .test_graph import STUDY, dags, listings


def study_graph(name: str) -> TaskGraph:
    return load_project(next(p for p in STUDY if p.stem == name)).graph()


def test_chains_keep_dependency_chains_together() -> None:
    graph = study_graph("mathutilities20_p05")
    groups = chains(graph, {})
    longest = max(groups, key=len)
    assert len(longest) == 10  # the ten-task chain is one group
    assert sum(len(g) for g in groups) == 20


@given(dags(), st.randoms(use_true_random=False))
def test_chains_are_dependency_paths_in_file_order_whatever_the_listing(
    tasks: list[tuple[str, list[str]]], rnd: random.Random
) -> None:
    for listing in listings(tasks, rnd):
        graph = TaskGraph.build(listing)
        groups = chains(graph, {})
        assert sorted(t for g in groups for t in g) == sorted(graph.ids)  # a partition
        firsts = [min(graph.position[t] for t in g) for g in groups]
        assert firsts == sorted(firsts)  # in order of each chain's first task in the file
        for group in groups:
            for before, after in itertools.pairwise(group):
                assert before in graph.deps[after]  # one node runs it without waiting
        queues = place(graph, ["a", "b", "c"], {}, "least-loaded")
        order = {t: i for i, t in enumerate(graph.topological_order)}
        for queue in queues.values():
            assert [order[t] for t in queue] == sorted(order[t] for t in queue)


def test_least_loaded_balances_and_round_robin_deals_in_order() -> None:
    graph = study_graph("mathutilities20_p02")  # a 16-chain and 4 free tasks
    balanced = place(graph, ["a", "b"], {}, "least-loaded")
    assert sorted(len(q) for q in balanced.values()) == [4, 16]
    dealt = place(graph, ["a", "b"], {}, "round-robin")
    assert len(dealt["a"]) + len(dealt["b"]) == 20


@pytest.mark.parametrize("name", [p.stem for p in STUDY])
@pytest.mark.parametrize("cls", [PreassignPolicy, StealPolicy])
def test_equal_latencies_reach_the_dag_lower_bound(name: str, cls: type[PreassignPolicy]) -> None:
    graph = study_graph(name)
    for n in range(1, 6):
        makespan, _, _ = drive(cls(graph, [f"w{i}" for i in range(n)]))
        assert makespan == graph.lower_bound(n), (name, n)


def test_stealing_beats_fixed_queues_with_a_straggler() -> None:
    graph = study_graph("svgutils_p09")
    slow = lambda task, node: 10.0 if node == "w0" else 1.0
    fixed, _, _ = drive(PreassignPolicy(graph, ["w0", "w1", "w2"]), slow)
    stolen, _, notes = drive(StealPolicy(graph, ["w0", "w1", "w2"]), slow)
    assert stolen < fixed
    assert any(n.kind == "steal" for n in notes)


def test_decentralized_refuses_taken_and_unready_claims() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", [])])
    policy = DecentralizedPolicy(graph, ["x", "y"])
    assert len(policy.start()) == 2
    assert policy.claim("x", "a")[0] == Assign("a", "x")
    refused = policy.claim("y", "a")
    assert isinstance(refused[0], Note) and "already claimed by x" in refused[0].detail
    unready = policy.claim("y", "b")
    assert "waits for a" in unready[0].detail  # type: ignore[union-attr]
    nonsense = policy.claim("y", None, "reply: 'hmm'")
    assert "no valid task id" in nonsense[0].detail  # type: ignore[union-attr]
    assert policy.refused == 3


def test_decentralized_completes_with_contention() -> None:
    graph = study_graph("dataanalysis_p05")
    policy = DecentralizedPolicy(graph, ["a", "b", "c"])
    _, _, notes = drive(policy, choose=first_pending, decision_time=0.1)
    assert policy.refused > 0
    assert all(n.kind == "claim_refused" for n in notes)


def test_lead_rejects_invalid_pairs_with_feedback_then_falls_back() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", [])])
    policy = LeadPolicy(graph, ["x", "y"], max_attempts=2)
    [request] = policy.start()
    assert isinstance(request, RequestAssignment) and set(request.ready) == {"a", "c"}
    decisions = policy.proposal([("b", "x"), ("a", "nobody")], request.attempt)
    retry = [d for d in decisions if isinstance(d, RequestAssignment)]
    assert (
        retry
        and "b is not ready" in (retry[0].feedback or "")
        and "unknown node 'nobody'" in (retry[0].feedback or "")
    )
    fallback = policy.proposal([("zz", "x")], retry[0].attempt)
    assert any(isinstance(d, Note) and d.kind == "lead_fallback" for d in fallback)
    assert {d.task for d in fallback if isinstance(d, Assign)} == {"a", "c"}


def test_node_loss_moves_its_queue() -> None:
    graph = study_graph("mathutilities20_p09")
    policy = StealPolicy(graph, ["a", "b", "c"])
    decisions = policy.start()
    lost_task = next(d.task for d in decisions if isinstance(d, Assign) and d.node == "b")
    policy.node_lost("b")
    after = policy.task_failed(lost_task, "b", requeue=True)
    started = {d.task for d in after if isinstance(d, Assign)}
    assert all(d.node != "b" for d in after if isinstance(d, Assign))
    done = set()
    queue = [d for d in decisions + after if isinstance(d, Assign) and d.node != "b"]
    while queue:
        assign = queue.pop(0)
        done.add(assign.task)
        queue += [d for d in policy.task_done(assign.task, assign.node) if isinstance(d, Assign)]
    assert policy.complete and lost_task in done | started


def test_failed_task_blocks_its_dependents() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])])
    policy = PreassignPolicy(graph, ["x"])
    policy.start()
    decisions = policy.task_failed("a", "x", requeue=False)
    assert policy.board.state["c"].value == "blocked"
    assert decisions == [Assign("d", "x")]
    policy.task_done("d", "x")
    assert policy.complete


def test_eligibility_routes_only_to_matching_nodes(tmp_path: Path) -> None:
    from lmteams.config import NodeSpec
    from lmteams.errors import ConfigError
    from lmteams.scheduling.project import parse_project

    project = parse_project(
        {
            "tasks": [
                {"id": "a", "role": "coder"},
                {"id": "b", "role": "writer", "dependencies": ["a"]},
                {"id": "c"},
            ]
        },
        source="p",
    )
    workers = [
        NodeSpec(name="w1", role="coder"),
        NodeSpec(name="w2", role="writer"),
        NodeSpec(name="w3", role="coder"),
    ]
    allowed = eligibility(project, workers)
    assert allowed == {"a": ["w1", "w3"], "b": ["w2"]}
    for topology in ("preassign", "steal", "lead", "decentralized"):
        policy = make_policy(topology, project.graph(), ["w1", "w2", "w3"], eligible=allowed)
        _, log, _ = drive(policy, choose=first_ready, lead=greedy_lead)
        for _, kind, task, node in log:
            if kind == "start" and task in allowed:
                assert node in allowed[task], (topology, task, node)
    # The one text of routing's errors too (lmteams.routing.roles.eligible).
    with pytest.raises(
        ConfigError, match=r"task 'b' needs role 'writer', which no node has \(roles: coder\)$"
    ):
        eligibility(project, [NodeSpec(name="w1", role="coder")])


TOPOLOGY_DRIVERS = {
    "preassign": {},
    "steal": {},
    "decentralized": {"choose": first_pending, "decision_time": 0.05},
    "lead": {"lead": greedy_lead, "decision_time": 0.05},
}


@settings(max_examples=40, deadline=None)
@given(
    dags(max_size=25),
    st.integers(1, 5),
    st.sampled_from(sorted(TOPOLOGY_DRIVERS)),
    st.integers(0, 10_000),
)
def test_no_task_starts_before_its_prerequisites_finish(tasks, workers, topology, seed) -> None:  # type: ignore[no-untyped-def]
    graph = TaskGraph.build(tasks)
    rng = random.Random(seed)
    durations = {t: rng.lognormvariate(0, 0.5) for t in graph.ids}
    policy = make_policy(topology, graph, [f"w{i}" for i in range(workers)], seed=seed)
    _, log, _ = drive(policy, durations, **TOPOLOGY_DRIVERS[topology])  # type: ignore[arg-type]
    finished: dict[str, float] = {}
    started: set[str] = set()
    busy: dict[str, str] = {}
    for t, kind, task, node in log:
        if kind == "start":
            assert task not in started, "a task ran twice"
            assert node not in busy, "a node ran two tasks at once"
            for dep in graph.deps[task]:
                assert dep in finished and finished[dep] <= t
            started.add(task)
            busy[node] = task
        else:
            finished[task] = t
            busy.pop(node, None)
    assert set(finished) == set(graph.ids)
