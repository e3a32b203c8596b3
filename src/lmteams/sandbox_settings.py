"""The ``sandbox:`` settings of projects, tools and the program strategy (a settings leaf).

Kept apart from :mod:`lmteams.sandbox`, which runs programs, so that what only reads the
settings (project files, tool options, the config) imports pydantic and nothing else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxLimits(BaseModel):
    """Limits of one sandboxed run (also the ``sandbox:`` settings of projects and tools)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: float = Field(30.0, gt=0, le=3600)
    memory_mb: int = Field(1024, ge=16, le=65536)
    output_limit_bytes: int = Field(
        64_000, ge=256, le=16_000_000, description="Kept of each of stdout and stderr."
    )
    max_processes: int = Field(
        128, ge=1, le=4096, description="Processes and threads the program may have at once."
    )
    network: bool = Field(False, description="Allow network access (off by default).")
    isolation: Literal["required", "best_effort"] = Field(
        "required",
        description="required: refuse to run where the sandbox cannot isolate the program; "
        "best_effort: run with what isolation there is and say what is missing.",
    )
