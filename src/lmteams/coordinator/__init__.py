"""The coordinator: the imperative shell that runs projects with teams under a topology."""

from lmteams.coordinator.run import RunResult, RunSettings, resume_project, run_project

__all__ = ["RunResult", "RunSettings", "resume_project", "run_project"]
