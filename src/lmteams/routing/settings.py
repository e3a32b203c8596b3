"""The ``roles:`` section of a team file: per-role settings (a leaf: pydantic only).

```yaml
roles:
  coder:
    balance: least_outstanding   # the coder nodes are replicas: the policy picks who serves
    description: Writes short Python programs.   # shown to the planner of `--topology plan`
    spill_at: 2                  # `cheapest`: outstanding requests at which a node is busy
    seed: 0                      # `power_of_two`: seed of the random choices
```
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

BalancePolicy = Literal[
    "round_robin", "least_outstanding", "power_of_two", "weighted_throughput", "cheapest"
]
POLICIES: tuple[str, ...] = get_args(BalancePolicy)
DEFAULT_POLICY: BalancePolicy = "least_outstanding"


class RoleConfig(BaseModel):
    """Settings of one role in a team file's ``roles:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    balance: BalancePolicy | None = Field(
        None,
        description="Makes the role's nodes a replica group: a call addressed to any of them is "
        "served by the replica this policy picks. Unset: each node serves its own calls (work "
        "sent to the role as a whole is balanced by least_outstanding).",
    )
    description: str = Field("", max_length=500, description="What the role does (for planners).")
    spill_at: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="`cheapest`: outstanding requests at which a node counts as busy and work "
        "spills to the next cheapest; default: the node's max_concurrent.",
    )
    seed: int = Field(0, description="`power_of_two`: seed of the random choices.")

    @property
    def policy(self) -> BalancePolicy:
        """The policy that picks among the role's nodes (the default when ``balance`` is unset)."""
        return self.balance or DEFAULT_POLICY
