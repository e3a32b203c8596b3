from sample_data import SAMPLE
from sort_by_units import SAMPLE_DATA, sort_by_units


def test_sort_by_units():
    data = list(SAMPLE)
    assert [r["units"] for r in sort_by_units(data)] == [12, 10, 8, 5, 3]
    assert data == SAMPLE  # the original list is not modified
    assert SAMPLE_DATA == SAMPLE
