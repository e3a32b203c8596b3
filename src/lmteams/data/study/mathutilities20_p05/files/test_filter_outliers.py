import pytest
from filter_outliers import filter_outliers


def test_filter_outliers():
    assert filter_outliers([1, 1, 1, 1, 1, 1, 1, 1, 1, 50]) == [1] * 9
    assert filter_outliers([2, 4, 4, 4, 5, 5, 7, 9], 1.2) == [4, 4, 4, 5, 5, 7]


def test_filter_outliers_empty():
    with pytest.raises(ValueError):
        filter_outliers([])
