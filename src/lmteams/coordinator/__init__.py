"""The coordinator: the imperative shell that runs projects with teams under a topology."""

from lmteams.coordinator.resume import resume_project
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunResult, RunSettings

__all__ = ["RunResult", "RunSettings", "resume_project", "run_project"]
