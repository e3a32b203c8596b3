"""The `plan` step: a coordinator node turns a free-text goal into a validated task graph.

The node answers with structured output (a JSON schema); the plan is then validated exactly as
a project file is (ids, dependencies, cycles). An invalid plan is sent back with the problem
and the node tries again, up to ``max_attempts``.
"""

from __future__ import annotations

from lmteams.errors import ConfigError, ModelError
from lmteams.scheduling import prompts
from lmteams.scheduling.project import ProjectSpec, parse_project
from lmteams.state.events import PlanAccepted, PlanRejected
from lmteams.team import Team


def planner_node(team: Team, requested: str | None) -> str:
    if requested:
        team.spec.node(requested)  # raises a ConfigError naming the team's nodes
        return requested
    for role in ("planner", "lead", "coordinator"):
        for node in team.spec.nodes:
            if node.role == role:
                return node.name
    return team.spec.node_names[0]


async def plan_project(
    team: Team,
    goal: str,
    *,
    node: str | None = None,
    max_attempts: int = 3,
    check: str | None = None,
) -> ProjectSpec:
    """Ask the planner for a task graph for ``goal``; every attempt is logged."""
    planner = planner_node(team, node)
    roles = sorted({n.role for n in team.spec.nodes if n.name != planner})
    described = {role: config.description for role, config in team.spec.roles.items()}
    feedback: str | None = None
    for attempt in range(max_attempts):
        try:
            reply = await team.call(
                planner,
                prompts.plan_prompt(goal, roles, feedback, described),
                key=f"plan/{attempt}",
                sampling={"json_schema": prompts.plan_schema(roles), "max_tokens": 1024},
                meta={"plan": attempt},
            )
        except ModelError as exc:
            feedback = f"the call failed ({type(exc).__name__})"
            team.event(PlanRejected(attempt=attempt, problem=feedback), node=planner)
            continue
        data, problem = prompts.parse_plan(reply.text)
        if data is not None:
            data = {
                "project": goal[:80],
                "description": goal,
                "tasks": data["tasks"],
                **({"check": check} if check else {}),
            }
            try:
                project = parse_project(data, source="plan")
            except ConfigError as exc:
                problem = f"{exc.field + ': ' if exc.field else ''}{exc.problem}"
            else:
                team.event(
                    PlanAccepted(
                        attempt=attempt, project=project.model_dump(mode="json", exclude_none=True)
                    ),
                    node=planner,
                )
                return project
        feedback = problem
        team.event(PlanRejected(attempt=attempt, problem=problem), node=planner)
    raise ConfigError(
        f"the planner gave no valid plan in {max_attempts} attempts (last problem: {feedback})",
        field="--goal",
    )
