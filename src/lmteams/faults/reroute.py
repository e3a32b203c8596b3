"""Re-routing: which other node takes the work of a failed, dead or straggling node.

Candidates are ranked: healthy nodes of the same role, then healthy nodes of other roles
(unless ``same_role_only``), then suspect nodes in the same order; dead nodes never (a dead
node's probe is its own calls' business). Within a rank the least loaded node wins, then the
fastest, then team order, so the choice is deterministic. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lmteams.faults.detector import NodeState


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    role: str
    state: NodeState
    in_flight: int = 0
    latency_s: float | None = None  # typical latency, when known
    open_endpoint: bool = False  # its model endpoint's breaker refuses calls


def rank(candidate: Candidate, role: str) -> tuple[int, int] | None:
    """(health rank, role rank); None when the candidate cannot take work."""
    if candidate.state is NodeState.DEAD or candidate.open_endpoint:
        return None
    health = 0 if candidate.state is NodeState.HEALTHY else 1
    return health, 0 if candidate.role == role else 1


def choose(
    candidates: Iterable[Candidate],
    *,
    role: str,
    exclude: Iterable[str] = (),
    same_role_only: bool = False,
) -> str | None:
    """The best node to take work meant for a node of ``role``, or None if none can."""
    excluded = set(exclude)
    best: tuple[tuple[int, int, int, float, int], str] | None = None
    for order, candidate in enumerate(candidates):
        if candidate.name in excluded:
            continue
        ranked = rank(candidate, role)
        if ranked is None or (same_role_only and ranked[1] != 0):
            continue
        latency = candidate.latency_s if candidate.latency_s is not None else float("inf")
        key = (ranked[0], ranked[1], candidate.in_flight, latency, order)
        if best is None or key < best[0]:
            best = (key, candidate.name)
    return best[1] if best else None
