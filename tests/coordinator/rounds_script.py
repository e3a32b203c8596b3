"""Scripted agents for the rounds harness: they read the round prompt and answer with actions."""

from __future__ import annotations

import json
import re

from lmteams.models.scripted import ScriptedCall

_HOLD = re.compile(r"^You hold task (\S+)\.", re.M)
_WRITE = re.compile(r"^Write: (.+)$", re.M)
_CODE = re.compile(r" with: (.+)$", re.M)
_DONE = re.compile(r"^Done: (.*)$", re.M)
_PENDING = re.compile(r"^- (\S+) \[pending\] .*\(needs: (.*)\)$", re.M)


def actions(*items: dict[str, object]) -> str:
    return "```json\n" + json.dumps({"actions": list(items)}) + "\n```"


def ready_and_waiting(prompt: str) -> tuple[list[str], list[str]]:
    done_match = _DONE.search(prompt)
    done = set(done_match.group(1).split(", ")) if done_match else set()
    ready, waiting = [], []
    for task, needs in _PENDING.findall(prompt):
        deps = [] if needs == "none" else needs.split(", ")
        (ready if all(d in done for d in deps) else waiting).append(task)
    return ready, waiting


def rounds_script(call: ScriptedCall, *, premature: bool = False) -> str:
    """Holding a task: write its files (the code its description gives, else a constant) and
    complete it. Holding none: claim the first ready task (``premature``: the first one still
    waiting, if any). Otherwise wait."""
    prompt = call.prompt
    held = _HOLD.search(prompt)
    if held is not None:
        task = held.group(1)
        wanted = _WRITE.search(prompt)
        files = [f.strip() for f in wanted.group(1).split(",")] if wanted else []
        code = _CODE.search(prompt)
        blocks = [
            f"{name}\n```python\n{code.group(1) if code else f'VALUE = {len(name)}'}\n```"
            for name in files
            if name.endswith(".py")
        ]
        return "\n\n".join([*blocks, actions({"action": "complete", "task": task})])
    if "Claim an open task" in prompt:
        ready, waiting = ready_and_waiting(prompt)
        choice = (waiting or ready) if premature else ready
        if choice:
            return actions({"action": "claim", "task": choice[0]})
    return actions({"action": "wait"})
