"""What both simulator harnesses are made of: the shared driver, with the time spent inside the
policy measured (``policy_s`` in every simulated result), the policy, the node models, the
recorder and the failure account (:mod:`lmteams.scheduling.failures`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from lmteams.scheduling import driver
from lmteams.scheduling.failures import FailureAccount
from lmteams.scheduling.policy import Decision, Policy, TaskState
from lmteams.sim.record import Recorder
from lmteams.sim.setup import NodeModel, SimInputs, SimSettings, SimTeam, build_policy, node_models


class TimedDriver(driver.Driver):
    """A :class:`~lmteams.scheduling.driver.Driver` that adds up the policy's own time."""

    policy_s = 0.0

    def decide(self, item: driver.Input) -> list[Decision]:
        begin = time.perf_counter()
        decisions = driver.take(self.policy, item)
        self.policy_s += time.perf_counter() - begin
        return decisions

    def timed(self, call: Callable[[], list[Decision]]) -> None:
        """A policy call that is no shared input (the dynamic topology's edits and leases),
        timed the same way, its decisions carried out."""
        begin = time.perf_counter()
        decisions = call()
        self.policy_s += time.perf_counter() - begin
        self.carry_out(decisions)


class SimShell(TimedDriver):
    """The parts of one simulated run that both harnesses hold."""

    def __init__(self, settings: SimSettings, inputs: SimInputs, team: SimTeam) -> None:
        self.settings = settings
        self.inputs = inputs
        self.graph = inputs.graph
        self.team = team
        self.policy: Policy = build_policy(settings, inputs, team)
        self.models: dict[str, NodeModel] = node_models(team, inputs)
        self.rec = Recorder(self.graph, team.names, keep_spans=settings.keep_spans)
        self.account = FailureAccount(settings.node_failure_limit, settings.max_task_attempts)
        self.now = 0.0
        self.stalled = False
        self.events = 0
        self.policy_s = 0.0

    def status(self) -> str:
        """How the run ended: done, stalled (nothing could start) or partial."""
        if all(s is TaskState.DONE for s in self.policy.board.state.values()):
            return "done"
        return "stalled" if self.stalled else "partial"
