"""The study's round protocol as pure rules: the actions an agent may take, how a reply is read
into them, which of them are refused, and the prompt an agent sees each round.

In the study every round called all agents at once; each acted through tool calls (claim a
task, mark it complete, edit a file, run the tests, message the others). Here a reply carries
its actions as one JSON block (``{"actions": [...]}``, a list, or one action; fenced or bare),
and files in fenced code blocks as in any task reply. Each action is validated on its own: an
invalid one is refused with a reason and the rest of the reply still counts. Claims go through
the topology's policy, which refuses a task that is taken or whose prerequisites are not done.

Pure: no I/O, no clock. The real harness (:mod:`lmteams.coordinator.rounds`) carries out what
these rules allow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from lmteams.scheduling import prompts
from lmteams.scheduling.policy import Board, TaskState
from lmteams.scheduling.project import ProjectSpec

HISTORY_LINES = 12  # the last lines of its own history an agent sees each round
MAX_ACTIONS = 20  # actions read from one reply; the rest are refused as one


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Claim(_Action):
    action: Literal["claim"]
    task: str


class Complete(_Action):
    action: Literal["complete"]
    task: str
    files: dict[str, str] = Field(default_factory=dict)


class Edit(_Action):
    action: Literal["edit"]
    path: str = Field(min_length=1)
    content: str


class RunTests(_Action):
    action: Literal["run_tests"]
    task: str | None = None  # None: the task the agent holds, else the whole suite


class Message(_Action):
    action: Literal["message"]
    text: str = Field(min_length=1, max_length=4000)
    to: str | None = None  # None or "all": every other agent


class Wait(_Action):
    action: Literal["wait"]


RoundAction = Annotated[
    Claim | Complete | Edit | RunTests | Message | Wait, Field(discriminator="action")
]
_ADAPTER: TypeAdapter[RoundAction] = TypeAdapter(RoundAction)
ACTION_NAMES = ("claim", "complete", "edit", "run_tests", "message", "wait")

_JSON_FENCE = re.compile(r"```(?:json|JSON)\s*\n(.*?)```", re.S)


def split_reply(text: str) -> tuple[str | None, str]:
    """(the action block, the rest of the reply): a ```json fence if there is one, else the
    first bare JSON object or list that parses. The rest holds the files."""
    fence = _JSON_FENCE.search(text)
    if fence is not None:
        return fence.group(1).strip(), text[: fence.start()] + text[fence.end() :]
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            _, end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        block = text[match.start() : end]
        if '"action' in block:  # not a dict literal in a code block
            return block, text[: match.start()] + text[end:]
    return None, text


def parse_actions(text: str) -> tuple[list[RoundAction], list[str]]:
    """The valid actions of a reply, in order, and one line for each one refused."""
    block, _ = split_reply(text)
    if block is None:
        return [], ["no actions: the reply has no JSON block"]
    try:
        raw: Any = json.loads(block)
    except json.JSONDecodeError as exc:
        return [], [f"the actions block is not JSON ({exc.msg})"]
    if isinstance(raw, dict) and "actions" in raw:
        raw = raw["actions"]
    items = raw if isinstance(raw, list) else [raw]
    actions: list[RoundAction] = []
    problems: list[str] = []
    for index, item in enumerate(items[:MAX_ACTIONS], 1):
        try:
            actions.append(_ADAPTER.validate_python(item))
        except ValidationError as exc:
            problems.append(f"action {index}: {_problem(item, exc)}")
    if len(items) > MAX_ACTIONS:
        problems.append(f"{len(items) - MAX_ACTIONS} actions past the first {MAX_ACTIONS}")
    return actions, problems


def _problem(item: object, exc: ValidationError) -> str:
    if not isinstance(item, dict):
        return f"not an object: {json.dumps(item)[:60]}"
    name = item.get("action")
    if name not in ACTION_NAMES:
        return f"unknown action {name!r}; one of: {', '.join(ACTION_NAMES)}"
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"][1:]) or "action"
    return f"{name}: {where}: {error['msg']}"


def resolve(action: RoundAction, project: ProjectSpec) -> RoundAction:
    """``action`` with its task named by id: a reply may name a task by its title, by its id
    in another case, or in a phrase that contains the id ("task-3: add")."""
    name = getattr(action, "task", None)
    if not name:
        return action
    task = task_named(name, project)
    return action if task is None or task == name else action.model_copy(update={"task": task})


def task_named(name: str, project: ProjectSpec) -> str | None:
    ids = [t.id for t in project.tasks]
    if name in ids:
        return name
    folded = name.strip().casefold()
    for task in project.tasks:
        if folded in (task.id.casefold(), task.title.strip().casefold()):
            return task.id
    return prompts.parse_claim(name, ids)


def refusal(
    action: RoundAction,
    node: str,
    *,
    board: Board,
    held: str | None,
    claims: bool,
    agents: Sequence[str],
) -> str | None:
    """Why ``node`` may not take ``action`` now (None: it may). ``held`` is the task the node
    holds, ``claims`` whether agents claim their tasks (decentralized) or are handed them.
    A claim that passes goes on to the policy, which refuses taken and premature tasks."""
    if isinstance(action, Claim):
        if not claims:
            return "tasks are assigned under this topology: work on the task you are given"
        if held is not None:
            return f"you hold {held}: complete it before claiming another"
        return None
    if isinstance(action, Complete):
        if action.task not in board.state:
            return f"unknown task {action.task!r}"
        if held != action.task:
            owner = board.running_on.get(action.task)
            if board.state[action.task] is TaskState.DONE:
                return f"{action.task} is already done"
            return f"{action.task} is not yours" + (f" (it is {owner}'s)" if owner else "")
        return None
    if isinstance(action, Edit):
        if held is None:
            return "you hold no task: claim one before editing files"
        return None
    if isinstance(action, RunTests):
        if action.task is not None and action.task not in board.state:
            return f"unknown task {action.task!r}"
        return None
    if isinstance(action, Message):
        if action.to not in (None, "all") and action.to not in agents:
            return f"no agent named {action.to!r}; agents: {', '.join(agents)}"
        if action.to == node:
            return "a message to yourself"
        return None
    return None


def recipients(action: Message, node: str, agents: Sequence[str]) -> tuple[str, ...]:
    if action.to in (None, "all"):
        return tuple(a for a in agents if a != node)
    return (str(action.to),)


def round_limit(max_rounds: int, tasks: int) -> int:
    """``--max-rounds``, or 5 rounds per task (at least 20) when it is 0."""
    return max_rounds or max(20, 5 * tasks)


def stuck(board: Board) -> bool:
    """No task can ever run again: nothing is held, nothing is ready, and work is left."""
    return not board.complete and not board.running_on and not board.ready


def round_prompt(
    project: ProjectSpec,
    *,
    node: str,
    round_number: int,
    board: str,
    agents: Sequence[str],
    claims: bool,
    held: str | None,
    task_text: str | None,
    history: Sequence[str],
) -> str:
    """What ``node`` is shown in round ``round_number``: the board, its task (with the task
    prompt, files of its prerequisites included), its recent history and the actions."""
    others = ", ".join(a for a in agents if a != node) or "none"
    parts = [
        f"You are {node}, one of {len(agents)} agents on the project '{project.project}' "
        f"(round {round_number}; the others: {others}). Every round all agents act at once.",
        board,
    ]
    if held is not None and task_text is not None:
        parts.append(f"You hold task {held}.\n{task_text}")
    elif claims:
        parts.append(
            "You hold no task. Claim an open task whose prerequisites are all done; a task "
            "another agent holds, or one still waiting for others, is refused."
        )
    else:
        parts.append("You hold no task yet: wait until one is assigned to you.")
    if history:
        parts.append("Your recent history:\n" + "\n".join(history[-HISTORY_LINES:]))
    example: dict[str, str] = (
        {"action": "complete", "task": held}
        if held is not None
        else {"action": "claim", "task": "ID"}
        if claims
        else {"action": "wait"}
    )
    parts.append(
        "Act with one JSON block:\n"
        f"```json\n{json.dumps({'actions': [example]})}\n```\n"
        "Actions: "
        + ('{"action": "claim", "task": ID}; ' if claims else "")
        + '{"action": "complete", "task": ID} (after writing its files, each in a fenced '
        'code block named by its path, in the same reply); {"action": "edit", "path": P, '
        '"content": TEXT}; {"action": "run_tests"}; {"action": "message", "text": T, '
        '"to": AGENT or "all"}; {"action": "wait"}.'
    )
    return "\n\n".join(parts)
