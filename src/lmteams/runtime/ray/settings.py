"""The ``ray:`` section of a team file: how the Ray runtime places nodes and survives failures.

Only pydantic here (no Ray import), so a team file validates on machines without Ray.

```yaml
ray:
  actors_per_machine: 2          # node-host actors per machine (each hosts many nodes)
  nodes_per_actor: null          # cap on nodes in one actor; 1 = one actor per node (naive)
  max_restarts: 3                # Ray restarts a dead node-host actor this many times
  resend_in_flight: 1            # times a request in flight on a dead actor is sent again
  roles:
    solver:                      # solver nodes get their own actors, each on a GPU machine
      resources: {GPU: 1}
      actors_per_machine: 1
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RolePlacement(BaseModel):
    """Placement of one role's nodes. A role listed here never shares an actor with others."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Ray resources reserved by each actor hosting this role (CPU, GPU, custom).",
    )
    actors_per_machine: int | None = Field(None, ge=1, le=1024)
    nodes_per_actor: int | None = Field(None, ge=1, le=100_000)


class RaySettings(BaseModel):
    """Settings of the Ray runtime; every field has a default that suits one small machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors_per_machine: int = Field(
        2, ge=1, le=1024, description="Node-host actors per machine for each placement group."
    )
    nodes_per_actor: int | None = Field(
        None, ge=1, le=100_000, description="At most this many nodes in one actor."
    )
    actor_cpus: float = Field(
        0.0, ge=0.0, le=1024.0, description="CPUs reserved by each node-host actor."
    )
    model_server_cpus: float = Field(
        0.0, ge=0.0, le=1024.0, description="CPUs reserved by each model-server actor."
    )
    max_restarts: int = Field(
        3, ge=-1, le=1000, description="Restarts of a dead actor; -1 restarts forever."
    )
    resend_in_flight: int = Field(
        1,
        ge=0,
        le=100,
        description="Times a request in flight on a dead actor is resent; 0 = at most once.",
    )
    start_timeout_s: float = Field(
        120.0, gt=0.0, le=3600.0, description="Longest wait for actors to start or restart."
    )
    roles: dict[str, RolePlacement] = Field(default_factory=dict)
