"""Circuit breaker per model endpoint: closed, open, half-open.

    closed   --failure_threshold consecutive failures--> open
    open     --reset_s elapsed--------------------------> half-open
    half-open --a probe succeeds------------------------> closed
    half-open --a probe fails---------------------------> open (reset_s doubled, capped)

While open, calls are refused at once (the endpoint is not hammered); in half-open, at most
``half_open_calls`` probes are let through at a time. Pure: methods take ``now`` and return the
transition they caused, for the shell to log.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lmteams.faults.config import BreakerConfig


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    endpoint: str
    old: BreakerState
    new: BreakerState
    reason: str

    @property
    def event(self) -> str:
        return {
            BreakerState.OPEN: "breaker_opened",
            BreakerState.HALF_OPEN: "breaker_half_open",
            BreakerState.CLOSED: "breaker_closed",
        }[self.new]


@dataclass(slots=True)
class BreakerStats:
    """Live view of one breaker."""

    endpoint: str
    state: BreakerState
    consecutive_failures: int
    failures: int
    successes: int
    refused: int
    opened: int
    since: float
    retry_at: float | None


class CircuitBreaker:
    """The breaker of one endpoint."""

    __slots__ = (
        "_in_probe",
        "config",
        "consecutive_failures",
        "endpoint",
        "failures",
        "opened",
        "refused",
        "reset_s",
        "retry_at",
        "since",
        "state",
        "successes",
    )

    def __init__(self, endpoint: str, config: BreakerConfig) -> None:
        self.endpoint = endpoint
        self.config = config
        self.state = BreakerState.CLOSED
        self.since = 0.0
        self.consecutive_failures = 0
        self.failures = 0
        self.successes = 0
        self.refused = 0
        self.opened = 0
        self.reset_s = config.reset_s
        self.retry_at = 0.0
        self._in_probe = 0

    def _move(self, new: BreakerState, reason: str, now: float) -> BreakerTransition:
        old = self.state
        self.state = new
        self.since = now
        if new is BreakerState.OPEN:
            self.opened += 1
            self.retry_at = now + self.reset_s
        if new is not BreakerState.HALF_OPEN:
            self._in_probe = 0
        return BreakerTransition(self.endpoint, old, new, reason)

    def tick(self, now: float) -> BreakerTransition | None:
        """Move open to half-open once its reset time has passed."""
        if self.state is BreakerState.OPEN and now >= self.retry_at:
            return self._move(BreakerState.HALF_OPEN, f"open for {self.reset_s:g}s", now)
        return None

    def allow(self, now: float) -> bool:
        """May a call start now? Counts it as a probe in half-open. Call :meth:`tick` first."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and self._in_probe < self.config.half_open_calls:
            self._in_probe += 1
            return True
        self.refused += 1
        return False

    def wait_s(self, now: float) -> float:
        """How long until a call could be let through (0 when it could now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.retry_at - now)
        return 0.0

    def on_success(self, now: float) -> BreakerTransition | None:
        self.successes += 1
        self.consecutive_failures = 0
        if self.state is BreakerState.CLOSED:
            return None
        self.reset_s = self.config.reset_s
        return self._move(BreakerState.CLOSED, "probe succeeded", now)

    def on_failure(self, now: float) -> BreakerTransition | None:
        self.failures += 1
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self.reset_s = min(self.reset_s * 2, self.config.max_reset_s)
            return self._move(BreakerState.OPEN, "probe failed", now)
        if (
            self.state is BreakerState.CLOSED
            and self.consecutive_failures >= self.config.failure_threshold
        ):
            return self._move(
                BreakerState.OPEN, f"{self.consecutive_failures} consecutive failures", now
            )
        return None

    def on_abandoned(self) -> None:
        """A call let through was cancelled before its outcome was known."""
        if self.state is BreakerState.HALF_OPEN and self._in_probe > 0:
            self._in_probe -= 1

    def statistics(self) -> BreakerStats:
        return BreakerStats(
            endpoint=self.endpoint,
            state=self.state,
            consecutive_failures=self.consecutive_failures,
            failures=self.failures,
            successes=self.successes,
            refused=self.refused,
            opened=self.opened,
            since=self.since,
            retry_at=self.retry_at if self.state is BreakerState.OPEN else None,
        )
