import pytest
from rank_by_revenue import rank_by_revenue


def test_rank_by_revenue():
    ranking = rank_by_revenue()
    assert [name for name, _ in ranking] == ["Gadget", "Doohickey", "Widget"]
    assert [total for _, total in ranking] == pytest.approx([449.82, 349.93, 149.85])
    assert all(isinstance(item, tuple) for item in ranking)
