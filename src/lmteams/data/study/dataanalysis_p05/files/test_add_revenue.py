import pytest
from add_revenue import add_revenue
from get_records import get_records


def test_add_revenue():
    records = add_revenue()
    assert len(records) == 11
    for r in records:
        assert r["revenue"] == pytest.approx(r["units"] * r["price"])
    assert records[0]["revenue"] == pytest.approx(99.9)


def test_add_revenue_copies():
    add_revenue()
    assert all("revenue" not in r for r in get_records())
