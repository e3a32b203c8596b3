"""Which project a project run executed, read from the event log (the one place it is derived).

A run started from a project file logs the project in its parameters; a run started from a
goal logs the project its planner made (the last ``plan_accepted`` event; earlier plans were
rejected). Resume, ``lmteams metrics``, the report and the run request all ask this module.
"""

from __future__ import annotations

from lmteams.scheduling.project import ProjectSpec
from lmteams.state.events import PlanAccepted
from lmteams.state.store import EventStore, RunRecord


def executed_project(store: EventStore, run: RunRecord) -> ProjectSpec | None:
    """The project ``run`` executed: its own, else its planner's; None before a plan was made."""
    if "project" in run.params:
        return ProjectSpec.model_validate(run.params["project"])
    plans = [r.event for r in store.events(run.run_id, types=["plan_accepted"])]
    accepted = [e for e in plans if isinstance(e, PlanAccepted)]
    if accepted:
        return ProjectSpec.model_validate(accepted[-1].project)
    return None
