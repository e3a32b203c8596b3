"""A tiny discrete-event driver for policy tests: durations per task, instant model choices."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from lmteams.scheduling.policy import (
    Assign,
    Decision,
    Note,
    Policy,
    RequestAssignment,
    RequestClaim,
)


def drive(
    policy: Policy,
    duration: Callable[[str, str], float] | Mapping[str, float] | None = None,
    *,
    choose: Callable[[Policy, str], str | None] | None = None,
    lead: Callable[[Policy, RequestAssignment], list[tuple[str, str]]] | None = None,
    decision_time: float = 0.0,
    max_events: int = 100_000,
) -> tuple[float, list[tuple[float, str, str, str]], list[Note]]:
    """Run ``policy`` to completion in virtual time: (makespan, log of (t, event, task, node), notes)."""
    if duration is None:
        duration_of: Callable[[str, str], float] = lambda task, node: 1.0
    elif callable(duration):
        duration_of = duration
    else:
        table = duration
        duration_of = lambda task, node: table.get(task, 1.0)
    queue: list[tuple[float, int, str, tuple[str, ...]]] = []
    log: list[tuple[float, str, str, str]] = []
    notes: list[Note] = []
    counter = 0
    now = 0.0

    def push(at: float, kind: str, *args: str) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(queue, (at, counter, kind, args))

    pending_lead: list[RequestAssignment] = []

    def handle(decisions: list[Decision]) -> None:
        for d in decisions:
            if isinstance(d, Assign):
                log.append((now, "start", d.task, d.node))
                push(now + duration_of(d.task, d.node), "done", d.task, d.node)
            elif isinstance(d, RequestClaim):
                push(now + decision_time, "claim", d.node)
            elif isinstance(d, RequestAssignment):
                pending_lead.append(d)
                push(now + decision_time, "lead")
            elif isinstance(d, Note):
                notes.append(d)

    handle(policy.start())
    events = 0
    while queue and events < max_events:
        events += 1
        now, _, kind, args = heapq.heappop(queue)
        if kind == "done":
            log.append((now, "done", args[0], args[1]))
            handle(policy.task_done(args[0], args[1]))
        elif kind == "claim":
            assert choose is not None
            handle(policy.claim(args[0], choose(policy, args[0])))
        elif kind == "lead":
            assert lead is not None
            request = pending_lead.pop(0)
            handle(policy.proposal(lead(policy, request), request.attempt))
    assert policy.complete, "the policy stopped before every task finished"
    return now, log, notes


def first_pending(policy: Policy, node: str) -> str | None:
    """A naive claimer: the first pending task in file order, ready or not (causes refusals)."""
    for task, state in policy.board.state.items():
        if state.value == "pending":
            return task
    return None


def first_ready(policy: Policy, node: str) -> str | None:
    for task in policy.graph.ids:
        if policy.board.is_ready(task) and policy.can_run(node, task):
            return task
    return None


def greedy_lead(policy: Policy, request: RequestAssignment) -> list[tuple[str, str]]:
    return list(zip(request.ready, request.idle, strict=False))
