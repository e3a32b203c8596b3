"""Lead-assigned: a lead node's model assigns ready tasks to idle nodes.

The lead answers with structured output (validated against a JSON schema by the coordinator);
this policy validates the content: every pair must name a ready, unassigned task and an idle
worker allowed to run it. Invalid pairs are rejected with feedback and the lead is asked again,
up to ``max_attempts``; after that, the remaining ready tasks are assigned by the fallback rule
(longest remaining path first, to the first idle node) and the fallback is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import (
    Assign,
    Decision,
    Note,
    Policy,
    PolicyOptions,
    RequestAssignment,
)


class LeadPolicy(Policy):
    name = "lead"

    def __init__(
        self,
        graph: TaskGraph,
        workers: Sequence[str],
        *,
        max_attempts: int = 3,
        **common: Unpack[PolicyOptions],
    ) -> None:
        super().__init__(graph, workers, **common)
        self.max_attempts = max_attempts
        self.in_flight = False
        self.rejected = 0
        self.fallbacks = 0

    def _ready(self) -> list[str]:
        position = self.graph.position
        return sorted(self.board.ready, key=lambda t: (-self.graph.tail[t], position[t]))

    def _matchable(self) -> tuple[list[str], list[str]]:
        idle = self.board.idle()
        ready = [t for t in self._ready() if any(self.can_run(n, t) for n in idle)]
        return idle, ready

    def dispatch(self) -> list[Decision]:
        if self.in_flight:
            return []
        idle, ready = self._matchable()
        if not idle or not ready:
            return []
        self.in_flight = True
        return [RequestAssignment(tuple(idle), tuple(ready))]

    def proposal(
        self, assignments: Sequence[tuple[str, str]], attempt: int, detail: str = ""
    ) -> list[Decision]:
        """The lead proposed (task, node) pairs; ``attempt`` counts from 0."""
        self.in_flight = False
        decisions: list[Decision] = []
        problems: list[str] = []
        for task, node in assignments:
            problem = self._problem(task, node)
            if problem:
                problems.append(problem)
                continue
            self.board.start(task, node)
            decisions.append(Assign(task, node))
        if detail:
            problems.append(detail)
        idle, ready = self._matchable()
        if problems:
            self.rejected += 1
            decisions.append(Note("assignment_rejected", detail="; ".join(problems)))
        if not idle or not ready:
            return decisions
        if problems and attempt + 1 < self.max_attempts:
            self.in_flight = True
            feedback = "Rejected: " + "; ".join(problems)
            decisions.append(RequestAssignment(tuple(idle), tuple(ready), feedback, attempt + 1))
            return decisions
        if problems:
            decisions.extend(self._fallback(idle, ready))
            return decisions
        return decisions + self.dispatch()

    def _fallback(self, idle: list[str], ready: list[str]) -> list[Decision]:
        self.fallbacks += 1
        decisions: list[Decision] = [Note("lead_fallback", detail=f"{len(ready)} ready tasks")]
        free = list(idle)
        for task in ready:
            node = next((n for n in free if self.can_run(n, task)), None)
            if node is None:
                continue
            free.remove(node)
            self.board.start(task, node)
            decisions.append(Assign(task, node))
        return decisions

    def _problem(self, task: str, node: str) -> str | None:
        if task not in self.board.state:
            return f"unknown task {task!r}"
        if node not in self.board.live:
            return f"unknown node {node!r}"
        if node in self.board.busy:
            return f"{node} is busy with {self.board.busy[node]}"
        if not self.board.is_ready(task):
            return (
                f"{task} is not ready ({self.board.state[task].value}, prerequisites pending)"
                if self.board.state[task].value == "pending"
                else f"{task} is {self.board.state[task].value}"
            )
        if not self.can_run(node, task):
            return f"{node} cannot run {task} (role/skills)"
        return None
