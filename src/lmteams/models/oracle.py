"""The ``oracle`` model: a scripted coder that answers every task with a reference solution.

It reads the files a task prompt asks for (the ``Write:`` line) from a folder of reference
solutions, by file name, and answers claim and lead prompts like
:func:`lmteams.testing.project_script`. With correct code guaranteed, a run measures lmteams
itself: its scheduling, checks, parking and suite, not a model. Settings in a team file:
``backend: oracle`` with ``solutions: FOLDER`` (or ``LMTEAMS_ORACLE_SOLUTIONS``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedBackend, ScriptedCall

SOLUTIONS_ENV = "LMTEAMS_ORACLE_SOLUTIONS"
_WRITE = re.compile(r"^Write: (.+)$", re.M)


class OracleOptions(BaseModel):
    """Settings of an ``oracle`` model in a team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    solutions: str | None = Field(
        None, description=f"Folder of reference solutions, by file name (or ${SOLUTIONS_ENV})."
    )
    latency_s: float = Field(0.0, ge=0.0, le=3600.0)


def solutions_folder(configured: str | None) -> Path:
    """The folder of reference solutions: the setting, else the environment variable."""
    name = configured or os.environ.get(SOLUTIONS_ENV)
    if not name:
        raise ConfigError(
            f"the oracle needs a folder of reference solutions: set solutions: or {SOLUTIONS_ENV}",
            field="solutions",
        )
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder", field="solutions")
    return folder


def oracle_script(folder: str | Path) -> OracleScript:
    """A script (``ScriptedCall -> str``) answering task prompts from ``folder``."""
    return OracleScript(Path(folder))


class OracleScript:
    """Task prompts: each file asked for, from the folder; other prompts: project_script."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, call: ScriptedCall) -> str:
        from lmteams.testing import project_script

        wanted = _WRITE.search(call.prompt)
        if wanted is None or "Pick ONE open task" in call.prompt:
            return project_script(call)
        blocks = []
        for name in (f.strip() for f in wanted.group(1).split(",")):
            path = self.folder / name
            if path.is_file() and self.folder.resolve() in path.resolve().parents:
                blocks.append(f"{name}\n```python\n{path.read_text()}```")
        return "\n\n".join(blocks) or "I have no reference solution for this task."


def from_options(options: OracleOptions, *, name: str = "oracle") -> ScriptedBackend:
    """Registry constructor: an oracle configured from a team file."""
    script = oracle_script(solutions_folder(options.solutions))
    return ScriptedBackend(script, name=name, latency_s=options.latency_s)
