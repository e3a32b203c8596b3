"""Run budgets: the most tokens and the most cost (from each model's ``prices``) a run may spend.

Before a call starts it asks for admission with an estimate of what it may spend. By default a
call is admitted while the spending so far is under the limits (calls already in flight may
overshoot by what they spend); with ``strict`` the estimate (prompt + ``max_tokens``, the worst
case) is reserved, so the limits are never exceeded. Once a call is refused, every later call
is refused too: the run stops and keeps its partial results. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmteams.errors import BudgetExceeded, PermanentModelError
from lmteams.faults.config import BudgetSpec


class BudgetStop(BudgetExceeded, PermanentModelError):
    """A call refused because the run's budget is spent.

    Both a :class:`~lmteams.errors.BudgetExceeded` (the run stops) and a permanent failure of
    that one call, so code that skips failed calls (``except ModelError``) keeps its partial
    results and finishes cleanly.
    """


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int = 0
    cost: float = 0.0


class Budget:
    """Spending of one run against its limits."""

    __slots__ = ("config", "cost", "exhausted", "reserved_cost", "reserved_tokens", "tokens")

    def __init__(self, config: BudgetSpec) -> None:
        self.config = config
        self.tokens = 0
        self.cost = 0.0
        self.reserved_tokens = 0
        self.reserved_cost = 0.0
        self.exhausted: str | None = None

    def _over(self, tokens: int, cost: float) -> str | None:
        limits = self.config
        if limits.max_tokens is not None and tokens >= limits.max_tokens:
            return f"token budget of {limits.max_tokens} reached ({self.tokens} tokens spent)"
        if limits.max_cost is not None and cost >= limits.max_cost:
            return f"cost budget of {limits.max_cost:g} reached ({self.cost:.6g} spent)"
        return None

    def admit(self, estimate: Spend, *, optional: bool = False) -> tuple[bool, str | None]:
        """Admit a call that may spend ``estimate``. Returns (admitted, why the run stops now).

        The reason is returned once, with the first refusal; later refusals return None. An
        ``optional`` call (a hedge) that does not fit is refused without stopping the run.
        """
        if self.exhausted is not None:
            return False, None
        if optional and not self.fits(estimate):
            return False, None
        if self.config.strict:
            over_tokens = (
                self.config.max_tokens is not None
                and self.tokens + self.reserved_tokens + estimate.tokens > self.config.max_tokens
            )
            over_cost = (
                self.config.max_cost is not None
                and self.cost + self.reserved_cost + estimate.cost > self.config.max_cost
            )
            if over_tokens or over_cost:
                kind = "token" if over_tokens else "cost"
                limit = self.config.max_tokens if over_tokens else self.config.max_cost
                self.exhausted = (
                    f"{kind} budget of {limit:g} reached: the next call could exceed it "
                    f"({self.tokens} tokens and cost {self.cost:.6g} spent)"
                )
                return False, self.exhausted
            self.reserved_tokens += estimate.tokens
            self.reserved_cost += estimate.cost
            return True, None
        reason = self._over(self.tokens, self.cost)
        if reason is not None:
            self.exhausted = reason
            return False, reason
        return True, None

    def fits(self, estimate: Spend) -> bool:
        """Would a call that spends ``estimate`` stay within the limits?"""
        limits = self.config
        tokens = self.tokens + self.reserved_tokens + estimate.tokens
        cost = self.cost + self.reserved_cost + estimate.cost
        return (limits.max_tokens is None or tokens <= limits.max_tokens) and (
            limits.max_cost is None or cost <= limits.max_cost
        )

    def settle(self, estimate: Spend, actual: Spend) -> None:
        """A call admitted with ``estimate`` finished (or was abandoned) having spent ``actual``."""
        if self.config.strict:
            self.reserved_tokens = max(0, self.reserved_tokens - estimate.tokens)
            self.reserved_cost = max(0.0, self.reserved_cost - estimate.cost)
        self.tokens += actual.tokens
        self.cost += actual.cost

    def statistics(self) -> dict[str, object]:
        return {
            "max_tokens": self.config.max_tokens,
            "max_cost": self.config.max_cost,
            "tokens": self.tokens,
            "cost": self.cost,
            "exhausted": self.exhausted,
        }
