"""A team's nodes as a report: role, model, vote weight, sampling and estimated reliability.

Reliability is each node's accuracy as Dawid-Skene EM estimates it from the answers the team
gave to past questions (``--consensus learned``, ``lmteams eval``), labels included where known;
None until the team has answered some questions that way. What `lmteams nodes` prints.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec
from lmteams.state.store import EventStore


class NodeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    role: str
    model: str
    backend: str
    weight: float
    temperature: float
    reliability: float | None  # estimated accuracy (None: no answers seen yet)
    answered: int
    labeled_questions: int


class NodesReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: str
    nodes: list[NodeRow]
    meta_model: dict[str, Any] | None  # the trained meta-model's metrics, if one was trained


def nodes_report(team: TeamSpec, store: EventStore | None) -> NodesReport:
    """The team's nodes with what the event log has learned of their reliability (nothing
    learned without a log)."""
    from lmteams.state.reliability import ReliabilityBook

    estimates: dict[str, Any] = {}
    trained = None
    if store is not None:
        book = ReliabilityBook(store, team.name)
        estimates = book.estimates()
        trained = book.meta()
    rows = []
    for node in team.nodes:
        model = team.model_of(node)
        estimate = estimates.get(node.name)
        rows.append(
            NodeRow(
                node=node.name,
                role=node.role,
                model=model,
                backend=team.models[model].backend,
                weight=node.weight,
                temperature=team.sampling(node).temperature,
                reliability=estimate["accuracy"] if estimate else None,
                answered=estimate["answered"] if estimate else 0,
                labeled_questions=estimate["labeled"] if estimate else 0,
            )
        )
    return NodesReport(team=team.name, nodes=rows, meta_model=trained[1] if trained else None)


__all__ = ["NodeRow", "NodesReport", "nodes_report"]
