"""Routing work to specialists: role and skill matching, and load balancing across replicas.

The pure parts are importable from here; the shell that sends requests lives in
:mod:`lmteams.routing.dispatch` (``call_role``, ``Router``), imported on its own because it
depends on :class:`~lmteams.team.Team`.
"""

from lmteams.routing.balance import (
    CheapestFirst,
    GroupLoad,
    LeastOutstanding,
    Policy,
    PowerOfTwo,
    Replica,
    RoundRobin,
    WeightedThroughput,
    group_load,
    make_policy,
)
from lmteams.routing.roles import (
    POLICIES,
    Requirement,
    RoleConfig,
    UnroutableTask,
    check_routable,
    nodes_for,
    restrict_to_role,
    role_config,
    roles_of,
    serves,
    unroutable_reason,
)

__all__ = [
    "POLICIES",
    "CheapestFirst",
    "GroupLoad",
    "LeastOutstanding",
    "Policy",
    "PowerOfTwo",
    "Replica",
    "Requirement",
    "RoleConfig",
    "RoundRobin",
    "UnroutableTask",
    "WeightedThroughput",
    "check_routable",
    "group_load",
    "make_policy",
    "nodes_for",
    "restrict_to_role",
    "role_config",
    "roles_of",
    "serves",
    "unroutable_reason",
]
