"""Run metrics computed from a run's event log. Pure: events in, numbers out.

Definitions (times are the run's clock, seconds since it started):
- makespan: time of the last task outcome; wall: time of the last event.
- busy time of a node: the union of its model-call intervals (request sent -> reply logged);
  idle = makespan - busy.
- rounds: distinct instants at which the coordinator assigned work.
- straggler gap: for each dependency level with at least two tasks, the latest completion
  minus the mean completion; the mean over levels (and the worst level) is reported.
- calls: every request sent, retries, reroutes and hedge copies included; tokens: every
  reply's, plus the estimated tokens of copies cancelled before their reply (a hedge's loser:
  its prompt and its share of the winner's completion); the hedging cost is shown apart
  (``hedges``: copies sent, ``hedge_extra_tokens``: what the losing copies spent).
- speedup (against an n = 1 run of the same project and topology): baseline makespan /
  makespan; efficiency = speedup / n; the Amdahl prediction uses p = (N - C) / N; the lower
  bound on makespan is max(critical path, total work / n) with this run's task durations.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from lmteams.scheduling.graph import TaskGraph, amdahl
from lmteams.state.events import (
    MESSAGE,
    CheckRun,
    HedgeCancelled,
    HedgeWon,
    Schedule,
    SuiteRun,
    TaskAssigned,
    TaskDone,
    TaskFailed,
    TaskGraphEdited,
    TaskInterrupted,
    WriteRefused,
)

if TYPE_CHECKING:
    from lmteams.state.store import EventRecord


class NodeMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    calls: int
    busy_s: float
    idle_s: float
    tasks_done: int
    messages: int
    prompt_tokens: int
    completion_tokens: int


class TaskSpan(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    node: str
    start: float
    end: float
    outcome: str


class CallSpan(BaseModel):
    """A coordination call on the Gantt chart: a claim request or a lead call."""

    model_config = ConfigDict(frozen=True)

    node: str
    start: float
    end: float
    kind: str  # claim | lead


class TaskProblem(BaseModel):
    """A task that did not finish, and why."""

    model_config = ConfigDict(frozen=True)

    task: str
    state: str  # failed | blocked | unfinished
    reason: str


class RunMetrics(BaseModel):
    """Everything `lmteams run` and `lmteams sweep` report about one run."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    topology: str | None
    workers: int
    tasks: int
    tasks_done: int
    tasks_failed: int
    makespan_s: float
    wall_s: float
    rounds: int
    calls: int
    messages: int
    prompt_tokens: int
    completion_tokens: int
    claims_refused: int
    write_conflicts: int
    writes_refused: int
    leases_refused: int
    rewrites: int
    checks: int
    checks_failed: int
    steals: int
    straggler_gap_s: float
    straggler_gap_max_s: float
    p: float | None
    critical_path: int | None
    amdahl_speedup: float | None
    lower_bound_s: float | None
    nodes: list[NodeMetrics]
    spans: list[TaskSpan]
    speedup: float | None = None
    efficiency: float | None = None
    bound_ratio: float | None = None  # lower bound / makespan: 1.0 is a perfect schedule
    undeclared_writes: int = 0  # files written outside the task's declared files
    read_only_refused: int = 0  # writes refused: a file the project brings
    parked: int = 0  # checks that needed another task's module first
    suite_ok: bool | None = None  # the whole suite at the end (None: no suite ran)
    suite_passed: int | None = None
    suite_failed: int | None = None
    suite_errors: int | None = None
    problems: list[TaskProblem] = []  # every failed or blocked task, with its reason
    call_spans: list[CallSpan] = []  # claim and lead calls (task calls are inside task spans)
    segments: int = 1  # coordinator segments: the start, then one per resume
    active_s: float | None = None  # wall-clock time coordinators were running
    total_s: float | None = None  # wall-clock time from the first event to the last
    failed_calls: int = 0  # requests that ended in an error (timeouts included)
    retries: int = 0  # requests sent again by the resilience layer
    hedges: int = 0  # hedge copies sent (each one also counts in calls)
    hedges_won: int = 0
    hedge_extra_tokens: int = 0  # tokens of the copies that lost the race (in the totals)
    estimated_tokens: int = 0  # tokens of copies cancelled before their reply (in the totals)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def suite_counts(self) -> str | None:
        """The suite's "N passed, N failed, N errors"; None when the run has no test counts."""
        if self.suite_passed is None:
            return None
        return f"{self.suite_passed} passed, {self.suite_failed} failed, {self.suite_errors} errors"


def _union_length(intervals: Iterable[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


#: RunMetrics fields that count logged events, and the event type each counts (a few counts
#: are kept under names of their own: a failed check, a hedge won by its copy, tokens).
COUNTED: dict[str, str] = {
    "tasks_failed": "task_failed",
    "claims_refused": "claim_refused",
    "write_conflicts": "write_conflict",
    "writes_refused": "write_refused",
    "leases_refused": "lease_refused",
    "rewrites": "file_rewritten",
    "checks": "check_run",
    "checks_failed": "check_failed",
    "steals": "steal",
    "undeclared_writes": "undeclared_write",
    "read_only_refused": "read_only_refused",
    "parked": "task_parked",
    "failed_calls": "call_failed",
    "retries": "retry",
    "hedges": "hedge_sent",
    "hedges_won": "hedges_won_by_copy",
    "hedge_extra_tokens": "hedge_extra_tokens",
    "estimated_tokens": "estimated_tokens",
}


def compute(
    run_id: str, events: Sequence[EventRecord], graph: TaskGraph | None = None
) -> RunMetrics:
    """Metrics of one run from its logged events (:meth:`EventStore.events`)."""
    if graph is not None:
        from lmteams.scheduling.edits import edited_graph

        # A dynamic run's agents may have edited it: its last task_graph event holds the edit.
        edits = [r.event for r in events if r.type == "task_graph"]
        last = edits[-1] if edits else None
        graph = edited_graph(last.tasks if isinstance(last, TaskGraphEdited) else None, graph)
    topology: str | None = None
    workers: list[str] = []
    sent: dict[str, tuple[str, float]] = {}
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    per_node: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, int] = defaultdict(int)
    started_at: dict[str, tuple[str, float]] = {}
    spans: list[TaskSpan] = []
    assign_times: set[float] = set()
    tokens = [0, 0]
    messages = calls = 0
    suite: SuiteRun | None = None
    coordination: dict[str, str] = {}  # request id -> claim | lead
    segment_starts: list[float] = []
    segment_ends: list[float] = []
    call_spans: list[CallSpan] = []
    reasons: dict[str, tuple[str, str]] = {}
    wall = 0.0
    for row in events:
        kind, t, node = row.type, row.t, row.node
        wall = max(wall, t)
        counts[kind] += 1
        # segments by wall clock: each coordinator's run clock starts again at its start
        if kind == "coordinator":
            segment_starts.append(row.ts)
            segment_ends.append(row.ts)
        elif segment_ends:
            segment_ends[-1] = max(segment_ends[-1], row.ts)
        if kind == MESSAGE:  # an envelope, read as logged (messages are not event models)
            data = row.data
            messages += 1
            if data.get("kind") == "request":
                calls += 1
                recipient = data["recipients"][0]
                sent[data["id"]] = (recipient, t)
                per_node[recipient]["messages"] += 1
                meta = (data.get("payload") or {}).get("meta") or {}
                role = "claim" if "claim" in meta else "lead" if "lead" in meta else None
                if role is not None:
                    coordination[data["id"]] = role
            elif data.get("kind") == "reply":
                per_node[data["sender"]]["messages"] += 1
                request = sent.pop(data.get("parent_id") or "", None)
                if request is not None:
                    intervals[request[0]].append((request[1], t))
                    role = coordination.pop(data.get("parent_id") or "", None)
                    if role is not None:
                        call_spans.append(
                            CallSpan(node=request[0], start=request[1], end=t, kind=role)
                        )
                    per_node[request[0]]["calls"] += 1
                usage = data.get("usage") or {}
                tokens[0] += usage.get("prompt_tokens", 0)
                tokens[1] += usage.get("completion_tokens", 0)
                per_node[data["sender"]]["prompt_tokens"] += usage.get("prompt_tokens", 0)
                per_node[data["sender"]]["completion_tokens"] += usage.get("completion_tokens", 0)
            continue
        event = row.event
        if isinstance(event, Schedule):
            topology = event.topology
            workers = list(event.workers)
        elif isinstance(event, TaskAssigned):
            started_at[event.task] = (node or "", t)
            assign_times.add(round(t, 6))
        elif isinstance(event, TaskDone | TaskFailed | TaskInterrupted):
            origin = started_at.pop(event.task, None)
            if origin is not None:
                outcome = kind.removeprefix("task_")
                spans.append(
                    TaskSpan(
                        task=event.task, node=origin[0], start=origin[1], end=t, outcome=outcome
                    )
                )
                if kind == "task_done":
                    per_node[origin[0]]["tasks_done"] += 1
            if isinstance(event, TaskFailed):
                reasons[event.task] = ("failed", str(event.error or "its check failed"))
            elif isinstance(event, TaskInterrupted) and not event.requeue:
                reasons[event.task] = ("failed", str(event.error or "its calls failed"))
            elif isinstance(event, TaskDone):
                reasons.pop(event.task, None)
        elif isinstance(event, CheckRun) and not event.ok:
            counts["check_failed"] += 1
        elif isinstance(event, WriteRefused) and event.status == "read_only":
            counts["read_only_refused"] += 1
        elif isinstance(event, SuiteRun):
            suite = event
        elif isinstance(event, HedgeWon):
            counts["hedge_extra_tokens"] += event.extra_tokens
            if event.by == "hedge":
                counts["hedges_won_by_copy"] += 1
        elif isinstance(event, HedgeCancelled):
            # Cancelled before its reply: no reply message carries its tokens.
            prompt = event.estimated_tokens if event.prompt_tokens is None else event.prompt_tokens
            tokens[0] += prompt
            tokens[1] += event.completion_tokens
            counts["estimated_tokens"] += prompt + event.completion_tokens
    done = [s for s in spans if s.outcome == "done"]
    makespan = max((s.end for s in spans), default=wall)
    names = workers or sorted(per_node)
    node_metrics = []
    for name in names:
        busy = _union_length(intervals.get(name, []))
        stats = per_node[name]
        node_metrics.append(
            NodeMetrics(
                node=name,
                calls=stats["calls"],
                busy_s=round(busy, 6),
                idle_s=round(max(0.0, makespan - busy), 6),
                tasks_done=stats["tasks_done"],
                messages=stats["messages"],
                prompt_tokens=stats["prompt_tokens"],
                completion_tokens=stats["completion_tokens"],
            )
        )
    gap_mean, gap_max = straggler_gaps(done, graph)
    n = max(1, len(workers))
    lower = None
    if graph is not None and done:
        lower = observed_lower_bound(graph, done, n)
    return RunMetrics(
        run_id=run_id,
        topology=topology,
        workers=len(workers),
        tasks=graph.n if graph is not None else len({s.task for s in spans}),
        tasks_done=len({s.task for s in done}),
        makespan_s=round(makespan, 6),
        wall_s=round(wall, 6),
        rounds=len(assign_times),
        calls=calls,
        messages=messages,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        straggler_gap_s=round(gap_mean, 6),
        straggler_gap_max_s=round(gap_max, 6),
        p=graph.p if graph is not None else None,
        critical_path=graph.c if graph is not None else None,
        amdahl_speedup=amdahl(graph.p, n) if graph is not None else None,
        lower_bound_s=round(lower, 6) if lower is not None else None,
        bound_ratio=round(lower / makespan, 4) if lower and makespan > 0 else None,
        nodes=node_metrics,
        **{name: counts[kind] for name, kind in COUNTED.items()},
        spans=spans,
        suite_ok=suite.ok if suite else None,
        suite_passed=suite.passed if suite else None,
        suite_failed=suite.failed if suite else None,
        suite_errors=suite.errors if suite else None,
        problems=task_problems(reasons, graph, {s.task for s in done}),
        call_spans=call_spans,
        segments=max(1, len(segment_starts)),
        active_s=round(sum(e - s for s, e in zip(segment_starts, segment_ends, strict=True)), 6)
        if segment_starts
        else None,
        total_s=round(max(r.ts for r in events) - min(r.ts for r in events), 6) if events else None,
    )


def task_problems(
    reasons: dict[str, tuple[str, str]], graph: TaskGraph | None, done: set[str]
) -> list[TaskProblem]:
    """Failed tasks with their last error, tasks downstream of them as blocked (naming the
    prerequisite that did not finish), and any other task not done as unfinished."""
    problems = [TaskProblem(task=t, state=s, reason=r) for t, (s, r) in reasons.items()]
    if graph is None:
        return problems
    closed = set(reasons)
    for task in graph.topological_order:
        if task in done or task in closed:
            continue
        cause = next((d for d in graph.deps[task] if d in closed), None)
        if cause is not None:
            closed.add(task)
            problems.append(
                TaskProblem(task=task, state="blocked", reason=f"{cause} did not finish")
            )
    if problems:
        for task in graph.ids:
            if task not in done and task not in closed:
                problems.append(TaskProblem(task=task, state="unfinished", reason="not run"))
    return problems


def straggler_gaps(done: Sequence[TaskSpan], graph: TaskGraph | None) -> tuple[float, float]:
    return level_gaps(((s.task, s.end) for s in done), graph)


def level_gaps(
    finishes: Iterable[tuple[str, float]], graph: TaskGraph | None
) -> tuple[float, float]:
    """Mean and largest gap, per DAG level, between the last finish and the mean finish
    (``finishes``: each done task with its end time)."""
    if graph is None:
        return 0.0, 0.0
    depth = graph.depth
    by_level: dict[int, list[float]] = defaultdict(list)
    for task, end in finishes:
        by_level[depth[task]].append(end)
    gaps = [max(ends) - statistics.fmean(ends) for ends in by_level.values() if len(ends) >= 2]
    return (statistics.fmean(gaps), max(gaps)) if gaps else (0.0, 0.0)


def observed_lower_bound(graph: TaskGraph, done: Sequence[TaskSpan], workers: int) -> float:
    return lower_bound_of(graph, {s.task: s.end - s.start for s in done}, workers)


def lower_bound_of(graph: TaskGraph, duration: Mapping[str, float], workers: int) -> float:
    """max(critical path, total work / n) using this run's measured task durations."""
    finish = graph.finish_times(duration)
    return max(max(finish.values(), default=0.0), sum(duration.values()) / workers)


def with_baseline(metrics: RunMetrics, baseline: RunMetrics | float) -> RunMetrics:
    """Add speedup and efficiency against an n = 1 run (or its mean makespan)."""
    base = baseline if isinstance(baseline, float | int) else baseline.makespan_s
    if not metrics.makespan_s:
        return metrics
    speedup = float(base) / metrics.makespan_s
    return metrics.model_copy(
        update={
            "speedup": round(speedup, 4),
            "efficiency": round(speedup / max(1, metrics.workers), 4),
        }
    )
