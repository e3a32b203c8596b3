"""Team-file sections for fault tolerance: ``resilience:``, ``budget:`` and ``faults:``.

Validated once, when the team file loads (see :mod:`lmteams.config`). Every section is optional.
A team without them takes the fast path: each call under the fixed deadline
``defaults.timeout_s`` and nothing else, until a call runs past it; from then on the team's
calls go through a layer with :meth:`ResilienceSpec.deadlines` (a call past its deadline is
retried, on another node when one is healthy; every other reaction stays off).

    resilience:                     # any key present turns the layer on, with these defaults
      seed: 0                       # seeds backoff jitter and tie-breaks (repeatable runs)
      timeouts: {call_s: null, adaptive: true, percentile: 99, factor: 3, min_s: 1}
      retries: {max_attempts: 3, base_s: 0.5, max_s: 30}
      breaker: {enabled: true, failure_threshold: 5, reset_s: 30}
      hedging: {enabled: false, percentile: 95, factor: 1.2}
      health: {suspect_after: 1, dead_after: 3, probe_after_s: 30}
      reroute: {enabled: true}
      validation: {non_empty: true, repetition: true, max_retries: 2}
      rate_limits: {remote: {requests_per_minute: 60, tokens_per_minute: 90000}}
    budget: {max_tokens: 200000, max_cost: 1.50}
    faults:
      seed: 7
      nodes:
        n1: {crash_after: 3}
        "role:critic": {slow: 10}
        "*": {error_rate: 0.05}
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ErrorKind = Literal["unavailable", "timeout", "rate_limited", "invalid", "bad_output"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutConfig(_Section):
    """Per-call deadline: fixed, or adaptive from the node's latency history."""

    call_s: float | None = Field(
        None, gt=0, le=86400, description="Fixed deadline per call; default: defaults.timeout_s."
    )
    adaptive: bool = Field(True, description="Tighten the deadline from observed latencies.")
    percentile: float = Field(99.0, gt=0, le=100)
    factor: float = Field(3.0, ge=1.0, le=100.0, description="Deadline = factor x percentile.")
    min_s: float = Field(1.0, gt=0, le=86400, description="Adaptive deadlines never go below.")
    min_samples: int = Field(8, ge=1, le=10000)
    window: int = Field(200, ge=2, le=100000, description="Latencies remembered per node.")


class RetryConfig(_Section):
    """Exponential backoff with full jitter; only transient errors are retried."""

    max_attempts: int = Field(3, ge=1, le=50, description="Attempts per call, the first included.")
    base_s: float = Field(0.5, ge=0, le=3600)
    multiplier: float = Field(2.0, ge=1.0, le=10.0)
    max_s: float = Field(30.0, ge=0, le=3600, description="Cap of one backoff delay.")
    max_retry_after_s: float = Field(
        300.0, ge=0, le=86400, description="Longest Retry-After honoured before giving up."
    )
    only_timeouts: bool = Field(
        False,
        description="Of the transient errors, retry only timeouts; raise the others at once.",
    )


class BreakerConfig(_Section):
    """Circuit breaker per model endpoint: closed, open, half-open."""

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1, le=10000, description="Consecutive failures to open.")
    reset_s: float = Field(30.0, gt=0, le=86400, description="Open this long before a probe.")
    max_reset_s: float = Field(300.0, gt=0, le=86400, description="Cap when probes keep failing.")
    half_open_calls: int = Field(1, ge=1, le=1000, description="Probe calls let through at once.")


class HedgeConfig(_Section):
    """Hedged requests: past the threshold, send the same request to another replica."""

    enabled: bool = False
    percentile: float = Field(95.0, gt=0, le=100)
    factor: float = Field(1.2, ge=0.1, le=100.0, description="Threshold = factor x percentile.")
    min_delay_s: float = Field(0.0, ge=0, le=86400)
    min_samples: int = Field(8, ge=1, le=10000)


class HealthConfig(_Section):
    """Node states: healthy, suspect, dead; probes bring dead nodes back."""

    suspect_after: int = Field(1, ge=1, le=1000, description="Consecutive failures to suspect.")
    dead_after: int = Field(3, ge=1, le=1000, description="Consecutive failures to declare dead.")
    probe_after_s: float = Field(30.0, gt=0, le=86400, description="Dead this long, then probe.")
    max_probe_after_s: float = Field(300.0, gt=0, le=86400)
    phi_suspect: float = Field(5.0, gt=0, le=100, description="Phi of a silent heartbeat.")
    phi_dead: float = Field(12.0, gt=0, le=100)
    min_heartbeats: int = Field(3, ge=2, le=10000)
    heartbeat_window: int = Field(100, ge=2, le=100000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.dead_after < self.suspect_after:
            raise ValueError("dead_after: must be at least suspect_after")
        if self.phi_dead < self.phi_suspect:
            raise ValueError("phi_dead: must be at least phi_suspect")
        return self


class RerouteConfig(_Section):
    """Send a failed or dead node's work to another healthy node, same role first."""

    enabled: bool = True
    same_role_only: bool = False


class ValidationConfig(_Section):
    """Output checks that count as failures and are retried with feedback."""

    non_empty: bool = True
    repetition: bool = Field(True, description="Reject runaway repetition.")
    noise: bool = Field(True, description="Reject replies that are mostly symbols.")
    regex: str | None = Field(None, description="The reply must contain a match.")
    json_output: bool = Field(False, alias="json", description="The reply must be JSON.")
    json_schema: dict[str, Any] | None = None
    max_retries: int = Field(2, ge=0, le=20, description="Retries with feedback per call.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RateLimitConfig(_Section):
    """Token buckets of one endpoint, shared by every node that uses it."""

    requests_per_minute: float | None = Field(None, gt=0, le=1e9)
    tokens_per_minute: float | None = Field(None, gt=0, le=1e12)
    burst_s: float = Field(60.0, gt=0, le=3600, description="Bucket size in seconds of rate.")


class ResilienceSpec(_Section):
    seed: int = 0
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    retries: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    hedging: HedgeConfig = Field(default_factory=HedgeConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    reroute: RerouteConfig = Field(default_factory=RerouteConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    rate_limits: dict[str, RateLimitConfig] = Field(
        default_factory=dict, description="By model name (the endpoint)."
    )

    @classmethod
    def deadlines(cls) -> ResilienceSpec:
        """What a team without a ``resilience:`` section runs under: the fixed deadline
        (``defaults.timeout_s``); a call past it is retried at once (up to 3 attempts), on
        another node once the hung one is suspect; errors other than timeouts are raised as they come,
        and breakers, hedging and output checks are off."""
        return cls(
            timeouts=TimeoutConfig(adaptive=False),
            # No backoff: the call waited its whole deadline already.
            retries=RetryConfig(max_attempts=3, base_s=0.0, only_timeouts=True),
            breaker=BreakerConfig(enabled=False),
            validation=ValidationConfig(
                non_empty=False, repetition=False, noise=False, max_retries=1
            ),
        )

    @classmethod
    def off(cls) -> ResilienceSpec:
        """Every reaction off: what a call with only an output check runs under."""
        return cls(
            timeouts=TimeoutConfig(adaptive=False),
            retries=RetryConfig(max_attempts=1),
            breaker=BreakerConfig(enabled=False),
            reroute=RerouteConfig(enabled=False),
            validation=ValidationConfig(
                non_empty=False, repetition=False, noise=False, max_retries=1
            ),
        )


class BudgetSpec(_Section):
    """Most tokens and cost one run may spend; reaching either stops the run cleanly."""

    max_tokens: int | None = Field(None, ge=1)
    max_cost: float | None = Field(None, gt=0, description="From the models' prices.")
    strict: bool = Field(
        False,
        description="Reserve each call's worst case (prompt + max_tokens) before sending it, "
        "so the budget is never exceeded; otherwise calls already in flight may overshoot.",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.max_tokens is None and self.max_cost is None:
            raise ValueError("max_tokens: set max_tokens, max_cost or both")
        return self


class FaultRule(_Section):
    """What to inject into the calls of one node (or of every node matching a key)."""

    crash_after: int | None = Field(
        None, ge=0, description="Crash once this many calls completed; in-flight calls fail."
    )
    crash_mode: Literal["refuse", "hang"] = Field(
        "refuse", description="refuse: calls fail at once; hang: calls never return."
    )
    slow: float = Field(1.0, ge=1.0, le=10000, description="Latency multiplier (straggler).")
    error_rate: float = Field(0.0, ge=0, le=1)
    error: ErrorKind = "unavailable"
    retry_after_s: float | None = Field(None, ge=0, le=3600, description="For rate_limited.")
    garbage_rate: float = Field(0.0, ge=0, le=1, description="Replies replaced by garbage.")
    byzantine_rate: float = Field(
        0.0, ge=0, le=1, description="Replies whose answer is replaced by a plausible wrong one."
    )
    wrong_answer: str | None = Field(None, description="The wrong answer Byzantine replies give.")

    @property
    def active(self) -> bool:
        return (
            self.crash_after is not None
            or self.slow > 1.0
            or self.error_rate > 0
            or self.garbage_rate > 0
            or self.byzantine_rate > 0
        )


class FaultsSpec(_Section):
    """Fault injection by node: keys are node names, ``role:NAME`` or ``*``."""

    seed: int = 0
    nodes: dict[str, FaultRule] = Field(default_factory=dict)


def check_references(
    *,
    node_names: tuple[str, ...],
    roles: set[str],
    models: set[str],
    faults: FaultsSpec | None,
    resilience: ResilienceSpec | None,
) -> None:
    """Raise ``ValueError('field: problem')`` for a fault key or endpoint the team lacks."""
    if faults is not None:
        for key in faults.nodes:
            if key == "*":
                continue
            if key.startswith("role:"):
                role = key.removeprefix("role:")
                if role not in roles:
                    raise ValueError(
                        f"faults.nodes.{key}: no node has role {role!r}; roles: "
                        f"{', '.join(sorted(roles))}"
                    )
            elif key not in node_names:
                raise ValueError(
                    f"faults.nodes.{key}: unknown node {key!r}; nodes: {', '.join(node_names)}"
                )
    if resilience is not None:
        for endpoint in resilience.rate_limits:
            if endpoint not in models:
                raise ValueError(
                    f"resilience.rate_limits.{endpoint}: unknown model {endpoint!r}; "
                    f"defined: {', '.join(sorted(models))}"
                )
