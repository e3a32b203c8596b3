"""What nodes are told and how their replies are read, for task-graph runs. Pure text work.

Task prompts give the goal, the task, the files to write and the files it builds on; replies
are read back as files (fenced code blocks, named by the line before the fence, the fence's
info string or a ``# file:`` first line). Claim, assignment and planning replies are parsed
into ids; anything malformed comes back as ``None`` or a list of problems for feedback.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lmteams.scheduling.policy import TaskState
from lmteams.scheduling.project import ProjectSpec, TaskSpec

MAX_CONTEXT_CHARS = 6000
MAX_BOARD_TASKS = 40

_FENCE = re.compile(r"```([^\n`]*)\n(.*?)(?:```|\Z)", re.S)
_FILE_NAME = re.compile(r"([\w./\-]+\.[A-Za-z0-9]{1,8})")


def task_prompt(
    project: ProjectSpec,
    task: TaskSpec,
    context: Mapping[str, str],
    feedback: str | None = None,
) -> str:
    files = ", ".join(task.files) if task.files else "(no file: reply with your result)"
    parts = [f"Project: {project.project}"]
    if project.description:
        parts.append(project.description.strip()[:1500])
    parts.append(f"Your task ({task.id}): {task.title}".rstrip(": "))
    if task.description:
        parts.append(task.description.strip())
    parts.append(f"Write: {files}")
    budget = MAX_CONTEXT_CHARS
    shown = []
    for path, content in context.items():
        if budget <= 0:
            break
        snippet = content[:budget]
        budget -= len(snippet)
        shown.append(f"{path}:\n```python\n{snippet}\n```")
    if shown:
        parts.append("Existing files you can import from:\n" + "\n".join(shown))
    if feedback:
        parts.append(
            f"Your previous attempt failed its check:\n{_tail_lines(feedback.strip(), 1500)}"
            "\nFix it."
        )
    if task.files:
        parts.append(
            "Reply with the complete content of each file in a fenced code block, "
            "with the file name on the line before the block."
        )
    return "\n\n".join(parts)


def last_lines(lines: Sequence[str], limit: int) -> list[str]:
    """The last whole lines that fit in ``limit`` characters (a newline each; never half a line)."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return kept[::-1]


def _tail_lines(text: str, limit: int) -> str:
    """The last whole lines of ``text`` within ``limit`` characters (never half a line)."""
    if len(text) <= limit:
        return text
    kept = last_lines(text.splitlines(), limit)
    return "\n".join(kept) if kept else text[-limit:]


def extract_files(reply: str, expected: Sequence[str]) -> dict[str, str]:
    """Files written in a reply, by path. Unnamed blocks go to the expected files in order."""
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for match in _FENCE.finditer(reply):
        info, body = match.group(1).strip(), match.group(2)
        if _is_placeholder(body):
            continue
        name = _name_from_info(info)
        lines = body.splitlines()
        if name is None and lines:
            first = re.match(r"^\s*#\s*(?:file(?:name)?:)?\s*([\w./\-]+\.py)\s*$", lines[0])
            if first:
                name = first.group(1)
                body = "\n".join(lines[1:])
        if name is None:
            name = _name_before(reply, match.start(), expected)
        content = body.rstrip() + "\n"
        if name is not None:
            named.setdefault(name.lstrip("./"), content)
        else:
            unnamed.append(content)
    for path in list(named):
        # "repo/add.py" or "src/add.py" for the expected "add.py": the model named the folder
        # it imagines the project in; the file is the one asked for.
        if path not in expected:
            alias = next((e for e in expected if e not in named and path.endswith("/" + e)), None)
            if alias is not None:
                named[alias] = named.pop(path)
    if not named and not unnamed and expected and _looks_like_file(reply, expected[0]):
        unnamed.append(reply.strip() + "\n")
    for path in expected:
        if path not in named and unnamed:
            named[path] = unnamed.pop(0)
    return named


def _looks_like_file(reply: str, path: str) -> bool:
    """An unfenced reply counts as the file itself only if it is valid source for its type."""
    if not reply.strip():
        return False
    if not path.endswith(".py"):
        return True
    try:
        ast.parse(reply)
    except (SyntaxError, ValueError):
        return False
    return True


def _is_placeholder(body: str) -> bool:
    """A block with nothing but comments and blank lines ("# your code here") is not a file."""
    return not any(line.strip() and not line.strip().startswith("#") for line in body.splitlines())


def _name_from_info(info: str) -> str | None:
    for token in info.replace(":", " ").replace("title=", " ").split():
        token = token.strip("\"'")
        if "." in token and _FILE_NAME.fullmatch(token):
            return token
    return None


def _name_before(reply: str, start: int, expected: Sequence[str]) -> str | None:
    before = reply[:start].rstrip().splitlines()
    if not before:
        return None
    line = before[-1]
    for path in expected:
        if _names(line, path):
            return path
    found = _FILE_NAME.findall(line)
    return found[-1] if found and len(line) < 120 else None


def _names(line: str, path: str) -> bool:
    """Whether ``line`` names ``path`` whole: "add.py" must not claim the block of
    "test_add.py". A scan, not a regular expression per path (one compile per task file cost
    more than the rest of a task's scheduling)."""
    at = line.find(path)
    while at != -1:
        end = at + len(path)
        before = line[at - 1] if at else " "
        after = line[end] if end < len(line) else " "
        if not (_word(before) or before in "./-") and not (_word(after) or after == "-"):
            return True
        at = line.find(path, at + 1)
    return False


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


# -- decentralized claims ------------------------------------------------------------------


def board_text(
    project: ProjectSpec, state: Mapping[str, TaskState], running_on: Mapping[str, str]
) -> str:
    """The shared task list as a node sees it (ready tasks first, capped)."""
    rows = []
    for task in project.tasks:
        status = state[task.id]
        if status in (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED):
            continue
        owner = f" (claimed by {running_on[task.id]})" if task.id in running_on else ""
        deps = ", ".join(task.dependencies) or "none"
        rows.append(f"- {task.id} [{status.value}{owner}] {task.title} (needs: {deps})")
    done = [t.id for t in project.tasks if state[t.id] is TaskState.DONE]
    head = f"Done: {', '.join(done) if done else 'nothing yet'}"
    if len(rows) > MAX_BOARD_TASKS:
        rows = [*rows[:MAX_BOARD_TASKS], f"... and {len(rows) - MAX_BOARD_TASKS} more"]
    return head + "\nOpen tasks:\n" + "\n".join(rows)


def claim_prompt(project: ProjectSpec, board: str, node: str) -> str:
    return (
        f"You are {node}, one of several workers on the project '{project.project}'. "
        "Pick ONE open task to do next. A task can only be done once every task it needs is "
        "done, and a task claimed by someone else is taken.\n\n"
        f"{board}\n\nReply with only the task id you claim."
    )


def parse_claim(reply: str, task_ids: Sequence[str]) -> str | None:
    """The task id a claim reply names (the longest id mentioned first wins ties)."""
    best: tuple[int, int, str] | None = None
    for task_id in task_ids:
        for match in re.finditer(rf"(?<![\w-]){re.escape(task_id)}(?![\w-])", reply):
            key = (match.start(), -len(task_id), task_id)
            if best is None or key < best:
                best = key
            break
    return best[2] if best else None


# -- lead assignment -------------------------------------------------------------------------


def assignment_schema(ready: Sequence[str], idle: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "assignments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "task": {"type": "string", "enum": list(ready)},
                        "node": {"type": "string", "enum": list(idle)},
                    },
                    "required": ["task", "node"],
                },
            }
        },
        "required": ["assignments"],
    }


def lead_prompt(
    project: ProjectSpec,
    board: str,
    idle: Sequence[str],
    ready: Sequence[str],
    feedback: str | None,
) -> str:
    text = (
        f"You lead the project '{project.project}'. Assign ready tasks to idle workers: at most "
        "one task per worker, only tasks listed as ready.\n\n"
        f"{board}\n\nReady tasks: {', '.join(ready)}\nIdle workers: {', '.join(idle)}\n\n"
        'Reply with JSON: {"assignments": [{"task": "<task id>", "node": "<worker>"}]}'
    )
    if feedback:
        text += f"\n\nYour previous answer was rejected. {feedback}"
    return text


def parse_assignments(reply: str) -> tuple[list[tuple[str, str]], str | None]:
    """(pairs, problem): the lead's pairs, or why the reply could not be read."""
    data = _json_object(reply)
    if data is None:
        return [], "the reply is not a JSON object"
    items = data.get("assignments")
    if not isinstance(items, list):
        return [], "missing 'assignments' list"
    pairs = []
    for item in items:
        if (
            isinstance(item, dict)
            and isinstance(item.get("task"), str)
            and isinstance(item.get("node"), str)
        ):
            pairs.append((item["task"], item["node"]))
    if not pairs and items:
        return [], "assignments must be objects with 'task' and 'node'"
    return pairs, None


def _json_object(reply: str) -> dict[str, Any] | None:
    text = reply.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(2)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# -- planning ------------------------------------------------------------------------------------


def plan_schema(roles: Sequence[str]) -> dict[str, Any]:
    task: dict[str, Any] = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "dependencies": {"type": "array", "items": {"type": "string"}},
            "files": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["id", "title", "description", "dependencies", "files"],
    }
    if roles:
        task["properties"]["role"] = {"type": "string", "enum": list(roles)}
        task["required"].append("role")
    return {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": task, "minItems": 1, "maxItems": 20}},
        "required": ["tasks"],
    }


def plan_prompt(
    goal: str,
    roles: Sequence[str],
    feedback: str | None,
    described: Mapping[str, str] | None = None,
) -> str:
    """The planner's prompt; ``described``: what a role does (the team file's
    ``roles.<role>.description``), said beside its name."""
    named = [f"{r} ({described[r]})" if described and described.get(r) else r for r in roles]
    role_line = (
        f" Give each task the role best suited to it, one of: {', '.join(named)}." if roles else ""
    )
    text = (
        f"Goal: {goal}\n\nBreak the goal into a few small tasks (2 to 8). Each task writes one "
        "Python file at the top level and may depend on earlier tasks by id (no cycles)."
        f"{role_line}\n"
        'Reply with JSON: {"tasks": [{"id": "t1", "title": "...", "description": "...", '
        '"dependencies": [], "files": ["name.py"]' + (', "role": "..."' if roles else "") + "}]}"
    )
    if feedback:
        text += f"\n\nYour previous plan was rejected: {feedback}"
    return text


def parse_plan(reply: str) -> tuple[dict[str, Any] | None, str | None]:
    data = _json_object(reply)
    if data is None:
        return None, "the reply is not a JSON object"
    if not isinstance(data.get("tasks"), list) or not data["tasks"]:
        return None, "the plan needs a non-empty 'tasks' list"
    return data, None


# -- dynamic: claims with graph edits ------------------------------------------------------------

MAX_EDITS_PER_REPLY = 8


def dynamic_prompt(project: ProjectSpec, board: str, node: str) -> str:
    """The claim prompt of the ``dynamic`` topology: claim a task, edit the graph, or both."""
    return (
        f"You are {node}, one of several workers on the project '{project.project}'. "
        "Pick ONE open task to do next. A task can only be done once every task it needs is "
        "done, and a task claimed by someone else is taken. You may also change the task list "
        "first: add a task, split an open unclaimed task into parts (tasks that needed it then "
        "need every part), or make a task wait for another. Finished and claimed tasks cannot "
        "change, and no edit may make a cycle.\n\n"
        f"{board}\n\n"
        'Reply with JSON: {"claim": "<task id or null>", "edits": [...]}, where each edit is '
        'one of {"action": "add_task", "id": "...", "title": "...", "description": "...", '
        '"files": ["name.py"], "after": ["<task id>"]}, {"action": "split_task", "task": '
        '"<task id>", "parts": [{"id": "...", "title": "...", "description": "...", "files": '
        '["name.py"]}]} or {"action": "add_dependency", "task": "<task id>", "on": "<task id>"}. '
        'With nothing to change, reply {"claim": "<task id>", "edits": []}.'
    )


def parse_dynamic(reply: str) -> tuple[str, list[Any], str]:
    """(claim text, raw edits, detail) from a dynamic claim reply.

    The claim is resolved with :func:`resolve_claim` after the edits are applied (a node may
    claim a task its own edit adds). A reply that is not a JSON object is a plain claim; the
    edits come back unvalidated (the coordinator checks each one and logs why one is refused).
    """
    data = _json_object(reply)
    if data is None:
        return reply, [], ""
    edits = data.get("edits", [])
    detail = ""
    if not isinstance(edits, list):
        edits, detail = [], "'edits' must be a list"
    elif len(edits) > MAX_EDITS_PER_REPLY:
        detail = f"only the first {MAX_EDITS_PER_REPLY} edits are read"
        edits = edits[:MAX_EDITS_PER_REPLY]
    raw = data.get("claim")
    return (raw if isinstance(raw, str) else ""), edits, detail


def resolve_claim(text: str, task_ids: Sequence[str]) -> str | None:
    """The task a claim names: the exact id, else the first id mentioned."""
    stripped = text.strip()
    return stripped if stripped in task_ids else parse_claim(text, task_ids)
