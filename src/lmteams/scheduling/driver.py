"""The one way a shell drives a policy: typed policy inputs in, decisions carried out.

Four shells drive the same policies: the coordinator's task path and its rounds harness, and the
simulator's event engine and its rounds harness. They differ only in how they wait (an asyncio
call, a heap event, a round). What goes into a policy is one of the inputs below, handed over by
:func:`take`; what comes out is carried out by :meth:`Driver.carry_out`, which calls one hook
per kind of decision. A shell subclasses :class:`Driver` and says what an assignment, a claim
request, a lead request and a note mean to it. The inputs that follow a task's outcome or a
failed call come from :class:`lmteams.scheduling.failures.FailureAccount`, so every shell counts
failures the same way.

Pure: no I/O, no clock. Every input knows its log form (``op`` and :meth:`args`), so the
coordinator logs the exact inputs it applies and a resumed run replays them (:func:`from_op`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lmteams.scheduling.policy import (
    Assign,
    Decision,
    Note,
    Policy,
    RequestAssignment,
    RequestClaim,
)

# -- inputs (shell -> policy) ------------------------------------------------------------------
# Values, never changed once made; not frozen because a frozen dataclass costs twice as much to
# make, and the simulator makes one per event (100,000 tasks, a million claims).


@dataclass(slots=True)
class Start:
    op: ClassVar[str] = "start"

    def args(self) -> dict[str, Any]:
        return {}


@dataclass(slots=True)
class Dispatch:
    """Nothing is in flight and work is left: the policy may act again."""

    op: ClassVar[str] = "dispatch"

    def args(self) -> dict[str, Any]:
        return {}


@dataclass(slots=True)
class TaskDone:
    task: str
    node: str
    op: ClassVar[str] = "task_done"

    def args(self) -> dict[str, Any]:
        return {"task": self.task, "node": self.node}


@dataclass(slots=True)
class TaskFailed:
    """An attempt failed: run the task again (``requeue``; elsewhere if ``avoid``) or give up."""

    task: str
    node: str
    requeue: bool
    avoid: bool = False
    op: ClassVar[str] = "task_failed"

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.task, "node": self.node, "requeue": self.requeue}
        if self.avoid:
            out["avoid"] = True
        return out


@dataclass(slots=True)
class TaskParked:
    """The task's check needs ``until``'s module, not done yet."""

    task: str
    node: str
    until: str
    op: ClassVar[str] = "task_parked"

    def args(self) -> dict[str, Any]:
        return {"task": self.task, "node": self.node, "until": self.until}


@dataclass(slots=True)
class NodeLost:
    node: str
    op: ClassVar[str] = "node_lost"

    def args(self) -> dict[str, Any]:
        return {"node": self.node}


@dataclass(slots=True)
class Claim:
    """``node``'s model chose ``task`` (None: it named no valid task)."""

    node: str
    task: str | None
    detail: str = ""
    now: float = 0.0  # when the claim came (a leased claim's lease starts then)
    op: ClassVar[str] = "claim"

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "task": self.task, "detail": self.detail}
        if self.now:
            out["now"] = self.now
        return out


@dataclass(slots=True)
class Proposal:
    """The lead proposed (task, node) pairs; ``attempt`` counts from 0."""

    pairs: tuple[tuple[str, str], ...]
    attempt: int
    detail: str = ""
    op: ClassVar[str] = "proposal"

    def args(self) -> dict[str, Any]:
        return {
            "pairs": [list(p) for p in self.pairs],
            "attempt": self.attempt,
            "detail": self.detail,
        }


Input = Start | Dispatch | TaskDone | TaskFailed | TaskParked | NodeLost | Claim | Proposal


def take(policy: Policy, item: Input) -> list[Decision]:
    """Hand ``item`` to ``policy``; its decisions."""
    if isinstance(item, TaskDone):
        return policy.task_done(item.task, item.node)
    if isinstance(item, Claim):
        return policy.claim(item.node, item.task, item.detail, item.now)
    if isinstance(item, TaskFailed):
        return policy.task_failed(item.task, item.node, requeue=item.requeue, avoid=item.avoid)
    if isinstance(item, Dispatch):
        return policy.dispatch()
    if isinstance(item, Proposal):
        return policy.proposal(item.pairs, item.attempt, item.detail)
    if isinstance(item, TaskParked):
        return policy.task_parked(item.task, item.node, item.until)
    if isinstance(item, NodeLost):
        return policy.node_lost(item.node)
    return policy.start()


def from_op(op: str, args: Mapping[str, Any]) -> Input:
    """The input a logged ``sched`` op stands for (the inverse of ``op`` and ``args()``)."""
    if op == "start":
        return Start()
    if op == "dispatch":
        return Dispatch()
    if op == "task_done":
        return TaskDone(args["task"], args["node"])
    if op == "task_failed":
        return TaskFailed(
            args["task"], args["node"], bool(args["requeue"]), bool(args.get("avoid", False))
        )
    if op == "task_parked":
        return TaskParked(args["task"], args["node"], args["until"])
    if op == "node_lost":
        return NodeLost(args["node"])
    if op == "claim":
        return Claim(args["node"], args["task"], args.get("detail", ""), args.get("now", 0.0))
    if op == "proposal":
        pairs = tuple((str(p[0]), str(p[1])) for p in args["pairs"])
        return Proposal(pairs, int(args["attempt"]), args.get("detail", ""))
    raise ValueError(f"unknown policy input {op!r}")


# -- carrying decisions out (policy -> shell) ----------------------------------------------------


class Driver:
    """Base of every shell: feeds its policy and carries out what the policy decides.

    A shell overrides the hooks for the decisions its topologies make; one left alone says
    plainly that this shell cannot carry that decision out.
    """

    policy: Policy

    def feed(self, item: Input) -> None:
        """Hand ``item`` to the policy and carry out its decisions."""
        self.carry_out(self.decide(item))

    def decide(self, item: Input) -> list[Decision]:
        """The policy's answer to ``item`` (a shell may wrap it: logging, timing)."""
        return take(self.policy, item)

    def carry_out(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, Assign):
                self.assign(decision)
            elif isinstance(decision, RequestClaim):
                self.request_claim(decision)
            elif isinstance(decision, RequestAssignment):
                self.request_assignment(decision)
            else:
                self.note(decision)

    # -- hooks ---------------------------------------------------------------------------------

    def assign(self, decision: Assign) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot start tasks")

    def request_claim(self, decision: RequestClaim) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot ask nodes for claims")

    def request_assignment(self, decision: RequestAssignment) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot ask a lead")

    def note(self, decision: Note) -> None:
        return None
