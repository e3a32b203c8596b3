"""How the simulator drives a policy: the shared driver, with the time spent inside the policy
measured (``policy_s`` in every simulated result)."""

from __future__ import annotations

import time
from collections.abc import Callable

from lmteams.scheduling import driver
from lmteams.scheduling.policy import Decision


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
