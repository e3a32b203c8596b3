import pytest
from group_revenue_totals import group_revenue_totals


def test_group_revenue_totals():
    totals = group_revenue_totals()
    assert totals == pytest.approx({"Doohickey": 349.93, "Gadget": 449.82, "Widget": 149.85})
