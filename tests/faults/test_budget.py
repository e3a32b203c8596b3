from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmteams.errors import BudgetExceeded, ModelError, PermanentModelError
from lmteams.faults.budget import Budget, BudgetStop, Spend
from lmteams.faults.config import BudgetSpec


def test_budget_stop_is_both_a_budget_stop_and_a_failed_call() -> None:
    stop = BudgetStop("spent", node="n1")
    assert isinstance(stop, BudgetExceeded) and isinstance(stop, PermanentModelError)
    assert isinstance(stop, ModelError) and not stop.transient and "node n1" in str(stop)


def test_soft_budget_admits_until_spent_then_refuses_for_good() -> None:
    budget = Budget(BudgetSpec(max_tokens=100))
    assert budget.admit(Spend(500)) == (True, None)  # estimates do not count in soft mode
    budget.settle(Spend(500), Spend(60))
    assert budget.admit(Spend(500)) == (True, None)
    budget.settle(Spend(500), Spend(60))
    admitted, reason = budget.admit(Spend(1))
    assert not admitted and reason is not None and "token budget of 100" in reason
    assert budget.admit(Spend(1)) == (False, None)  # the reason is reported once
    assert budget.exhausted == reason


def test_strict_budget_reserves_the_worst_case() -> None:
    budget = Budget(BudgetSpec(max_tokens=100, strict=True))
    assert budget.admit(Spend(60))[0]
    assert not budget.fits(Spend(60))
    refused, reason = budget.admit(Spend(60))
    assert not refused and reason is not None and "could exceed" in reason


def test_optional_calls_that_do_not_fit_do_not_stop_the_run() -> None:
    budget = Budget(BudgetSpec(max_tokens=100, strict=True))
    assert budget.admit(Spend(80))[0]
    assert budget.admit(Spend(30), optional=True) == (False, None)
    assert budget.exhausted is None
    budget.settle(Spend(80), Spend(10))
    assert budget.admit(Spend(30))[0]


def test_cost_budget() -> None:
    budget = Budget(BudgetSpec(max_cost=0.01))
    budget.settle(Spend(), Spend(1000, 0.02))
    admitted, reason = budget.admit(Spend(1, 0.0))
    assert not admitted and reason is not None and "cost budget" in reason
    assert budget.statistics()["cost"] == 0.02


@given(st.lists(st.tuples(st.integers(1, 300), st.floats(0, 1)), max_size=60))
def test_strict_budget_is_never_exceeded(calls: list[tuple[int, float]]) -> None:
    budget = Budget(BudgetSpec(max_tokens=1000, strict=True))
    for most, fraction in calls:
        estimate = Spend(most)
        if budget.admit(estimate)[0]:
            budget.settle(estimate, Spend(int(most * fraction)))
        assert budget.tokens <= 1000
