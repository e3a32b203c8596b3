import pytest
from revenue_summary import revenue_summary


def test_revenue_summary():
    summary = revenue_summary()
    assert set(summary) == {"rankings", "top_product", "grand_total"}
    assert summary["top_product"] == "Gadget"
    assert summary["grand_total"] == pytest.approx(949.6)
    assert summary["rankings"][0][0] == "Gadget"
