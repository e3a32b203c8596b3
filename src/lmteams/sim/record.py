"""What a simulated run did, gathered as it happens and turned into the same RunMetrics that
:func:`lmteams.analysis.metrics.compute` gives a real run, so every table and figure works on
both. Definitions follow :mod:`lmteams.analysis.metrics`: busy time is the union of a node's
call intervals, makespan the time of the last task outcome, rounds the distinct instants at
which work was assigned."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmteams.analysis.metrics import (
    NodeMetrics,
    RunMetrics,
    TaskSpan,
    level_gaps,
    lower_bound_of,
)
from lmteams.scheduling.graph import TaskGraph, amdahl


@dataclass(slots=True)
class NodeTally:
    calls: int = 0
    failed_calls: int = 0
    busy_s: float = 0.0
    busy_until: float = 0.0  # end of the latest call, to take the union of overlapping calls
    tasks_done: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Recorder:
    """Counters and spans of one simulated run."""

    graph: TaskGraph
    workers: list[str]
    keep_spans: bool = True
    nodes: dict[str, NodeTally] = field(default_factory=dict)
    spans: list[tuple[str, str, float, float, str]] = field(default_factory=list)
    done_end: dict[str, float] = field(default_factory=dict)
    done_duration: dict[str, float] = field(default_factory=dict)
    assign_instants: set[float] = field(default_factory=set)
    notes: dict[str, int] = field(default_factory=dict)
    makespan: float = 0.0
    last_event: float = 0.0
    failed_tasks: int = 0
    redos: int = 0
    task_calls: int = 0

    def tally(self, node: str) -> NodeTally:
        found = self.nodes.get(node)
        if found is None:
            found = self.nodes[node] = NodeTally()
        return found

    def call(self, node: str, start: float, end: float, prompt: int, completion: int) -> None:
        tally = self.nodes.get(node)  # self.tally(node), inlined: once per simulated call
        if tally is None:
            tally = self.nodes[node] = NodeTally()
        tally.calls += 1
        busy_until = tally.busy_until
        if end > busy_until:
            tally.busy_s += end - (start if start > busy_until else busy_until)
            tally.busy_until = end
        tally.prompt_tokens += prompt
        tally.completion_tokens += completion
        if end > self.last_event:
            self.last_event = end

    def failed_call(self, node: str) -> None:
        self.tally(node).failed_calls += 1

    def assigned(self, at: float) -> None:
        self.assign_instants.add(round(at, 6))

    def outcome(self, task: str, node: str, start: float, end: float, outcome: str) -> None:
        if end > self.makespan:
            self.makespan = end
        if end > self.last_event:
            self.last_event = end
        if outcome == "done":
            self.done_end[task] = end
            self.done_duration[task] = end - start
            self.tally(node).tasks_done += 1
        elif outcome == "failed":
            self.failed_tasks += 1
        if self.keep_spans:
            self.spans.append((task, node, start, end, outcome))

    def note(self, kind: str) -> None:
        self.notes[kind] = self.notes.get(kind, 0) + 1

    # -- the result ----------------------------------------------------------------------------

    def metrics(self, run_id: str, topology: str) -> RunMetrics:
        graph = self.graph
        makespan = self.makespan
        n = max(1, len(self.workers))
        node_metrics = []
        for name in self.workers:
            tally = self.nodes.get(name) or NodeTally()
            node_metrics.append(
                NodeMetrics.model_construct(
                    node=name,
                    calls=tally.calls,
                    busy_s=round(tally.busy_s, 6),
                    idle_s=round(max(0.0, makespan - tally.busy_s), 6),
                    tasks_done=tally.tasks_done,
                    messages=2 * tally.calls + tally.failed_calls,
                    prompt_tokens=tally.prompt_tokens,
                    completion_tokens=tally.completion_tokens,
                )
            )
        every = self.nodes.values()
        calls = sum(t.calls + t.failed_calls for t in every)
        messages = sum(2 * t.calls + t.failed_calls for t in every)
        gap_mean, gap_max = level_gaps(self.done_end.items(), graph)
        lower = lower_bound_of(graph, self.done_duration, n) if self.done_end else None
        spans = [
            TaskSpan.model_construct(task=t, node=nd, start=s, end=e, outcome=o)
            for t, nd, s, e, o in self.spans
        ]
        return RunMetrics.model_construct(
            run_id=run_id,
            topology=topology,
            workers=len(self.workers),
            tasks=graph.n,
            tasks_done=len(self.done_end),
            tasks_failed=self.failed_tasks,
            makespan_s=round(makespan, 6),
            wall_s=round(max(self.last_event, makespan), 6),
            rounds=len(self.assign_instants),
            calls=calls,
            messages=messages,
            prompt_tokens=sum(t.prompt_tokens for t in every),
            completion_tokens=sum(t.completion_tokens for t in every),
            claims_refused=self.notes.get("claim_refused", 0),
            write_conflicts=0,
            writes_refused=0,
            leases_refused=0,
            rewrites=0,
            checks=self.task_calls if self.redos else 0,
            checks_failed=self.redos,
            steals=self.notes.get("steal", 0),
            straggler_gap_s=round(gap_mean, 6),
            straggler_gap_max_s=round(gap_max, 6),
            p=graph.p,
            critical_path=graph.c,
            amdahl_speedup=amdahl(graph.p, n),
            lower_bound_s=round(lower, 6) if lower is not None else None,
            bound_ratio=round(lower / makespan, 4) if lower and makespan > 0 else None,
            nodes=node_metrics,
            spans=spans,
            speedup=None,
            efficiency=None,
        )
