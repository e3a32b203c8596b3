"""What each task of a project run cost: its model calls, its attempts and their tokens. Pure.

A call counts for a task when its request names the task (``meta.task``, as task calls do), or
else when its node held the task at the time (the rounds harness's per-round calls). Claim,
lead and plan calls name no task and count for none; they are the coordination's cost, shown
on the timeline. An attempt is one try at the task: each assignment, and each rewrite within
one after a failed check (``meta.attempt``). Tokens are the replies' usage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from lmteams.state.events import MESSAGE, TaskAssigned, TaskDone, TaskFailed, TaskInterrupted

if TYPE_CHECKING:
    from lmteams.state.store import EventRecord


class TaskCost(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    node: str  # the node that held it last
    outcome: str  # done | failed | interrupted | unfinished
    attempts: int
    calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def task_costs(events: Sequence[EventRecord]) -> list[TaskCost]:
    """Each task's cost, in the order the tasks were first assigned."""
    holder: dict[str, str] = {}  # node -> the task it holds
    last_node: dict[str, str] = {}
    outcome: dict[str, str] = {}
    tries: dict[str, set[tuple[int, object]]] = defaultdict(set)
    assignments: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    pending: dict[str, str] = {}  # request id -> task
    order: list[str] = []
    for row in events:
        if row.type == MESSAGE:
            data = row.data
            if data.get("kind") == "request":
                meta = (data.get("payload") or {}).get("meta") or {}
                recipients = data.get("recipients") or [""]
                task = meta.get("task") or (
                    None if "claim" in meta or "lead" in meta else holder.get(recipients[0])
                )
                if task is None:
                    continue
                task = str(task)
                calls[task] += 1
                pending[data["id"]] = task
                tries[task].add((assignments[task], meta.get("attempt")))
            elif data.get("kind") == "reply":
                task_of = pending.pop(data.get("parent_id") or "", None)
                if task_of is not None:
                    usage = data.get("usage") or {}
                    tokens[task_of][0] += int(usage.get("prompt_tokens", 0))
                    tokens[task_of][1] += int(usage.get("completion_tokens", 0))
            continue
        event = row.event
        if isinstance(event, TaskAssigned):
            node = row.node or ""
            if event.task not in last_node:
                order.append(event.task)
            assignments[event.task] += 1
            holder[node] = event.task
            last_node[event.task] = node
        elif isinstance(event, TaskDone | TaskFailed | TaskInterrupted):
            outcome[event.task] = row.type.removeprefix("task_")
            held_by = last_node.get(event.task)
            if held_by is not None and holder.get(held_by) == event.task:
                del holder[held_by]
    for task in calls:  # named by a call but never assigned (a rerun's replayed calls)
        if task not in last_node:
            order.append(task)
    return [
        TaskCost(
            task=task,
            node=last_node.get(task, ""),
            outcome=outcome.get(task, "unfinished"),
            attempts=max(len(tries[task]), assignments[task]),
            calls=calls[task],
            prompt_tokens=tokens[task][0],
            completion_tokens=tokens[task][1],
        )
        for task in order
    ]
