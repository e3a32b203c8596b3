import pytest
from outlier_mask import outlier_mask


def test_outlier_mask():
    data = [1, 1, 1, 1, 1, 1, 1, 1, 1, 50]
    assert outlier_mask(data) == [False] * 9 + [True]
    assert outlier_mask([2, 4, 4, 4, 5, 5, 7, 9], threshold=1.2) == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def test_outlier_mask_too_small():
    with pytest.raises(ValueError):
        outlier_mask([])
