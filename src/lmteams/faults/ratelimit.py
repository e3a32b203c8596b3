"""Rate limits: token buckets per endpoint, for requests and tokens per minute.

A bucket holds at most ``capacity`` units and refills at ``rate_per_s``; taking ``n`` units
either succeeds now or says how long to wait (and takes nothing). Whatever the order of calls,
the units granted over any interval of length ``T`` never exceed ``capacity + rate_per_s * T``.
An endpoint's limiter takes from both of its buckets together or from neither, and can be
paused until a server's Retry-After has passed. Pure: time is passed in.
"""

from __future__ import annotations

import math

from lmteams.faults.config import RateLimitConfig


class TokenBucket:
    __slots__ = ("capacity", "level", "rate_per_s", "updated")

    def __init__(self, rate_per_s: float, capacity: float, now: float = 0.0) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.level = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate_per_s)
            self.updated = now

    def wait_s(self, n: float, now: float) -> float:
        """Seconds until ``n`` units are available (0 if now); ``n`` is capped at capacity."""
        self._refill(now)
        n = min(n, self.capacity)
        if self.level >= n:
            return 0.0
        return (n - self.level) / self.rate_per_s

    def take(self, n: float, now: float) -> float:
        """Take ``n`` units if available now and return 0; else take nothing and return the wait."""
        wait = self.wait_s(n, now)
        if wait == 0.0:
            self.level -= min(n, self.capacity)
        return wait

    def give_back(self, n: float, now: float) -> None:
        """Return units taken but not used (an estimate that was too high)."""
        self._refill(now)
        self.level = min(self.capacity, self.level + max(0.0, n))

    def charge(self, n: float, now: float) -> None:
        """Take units used beyond an estimate; the level may go negative (later calls wait)."""
        self._refill(now)
        self.level -= max(0.0, n)


class EndpointLimiter:
    """Requests-per-minute and tokens-per-minute buckets of one endpoint."""

    __slots__ = ("endpoint", "paused_until", "requests", "tokens", "waits")

    def __init__(self, endpoint: str, config: RateLimitConfig, now: float = 0.0) -> None:
        self.endpoint = endpoint
        self.requests = _bucket(config.requests_per_minute, config.burst_s, now)
        self.tokens = _bucket(config.tokens_per_minute, config.burst_s, now)
        self.paused_until = -math.inf
        self.waits = 0

    def acquire(self, tokens: float, now: float) -> tuple[float, str]:
        """Take one request and ``tokens`` tokens, or neither: (wait_s, which limit), 0 = taken."""
        if now < self.paused_until:
            return self.paused_until - now, "retry_after"
        request_wait = self.requests.wait_s(1, now) if self.requests else 0.0
        token_wait = self.tokens.wait_s(tokens, now) if self.tokens else 0.0
        if request_wait > 0 or token_wait > 0:
            self.waits += 1
            if request_wait >= token_wait:
                return request_wait, "requests_per_minute"
            return token_wait, "tokens_per_minute"
        if self.requests:
            self.requests.take(1, now)
        if self.tokens:
            self.tokens.take(tokens, now)
        return 0.0, ""

    def settle(self, estimated: float, actual: float, now: float) -> None:
        """Correct the token bucket once a call's real usage is known."""
        if self.tokens is None:
            return
        if actual < estimated:
            self.tokens.give_back(estimated - actual, now)
        else:
            self.tokens.charge(actual - estimated, now)

    def pause(self, until: float) -> None:
        """Hold every call to this endpoint until ``until`` (a server's Retry-After)."""
        self.paused_until = max(self.paused_until, until)


def _bucket(per_minute: float | None, burst_s: float, now: float) -> TokenBucket | None:
    """A bucket refilled at ``per_minute`` holding ``burst_s`` of it (at least 1); None: no limit."""
    if not per_minute:
        return None
    rate = per_minute / 60.0
    return TokenBucket(rate, max(1.0, rate * burst_s), now)
