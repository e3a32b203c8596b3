import pytest
from sum_list import sum_list


def test_sum_list():
    assert sum_list([1, 2, 3.5]) == 6.5
    assert sum_list([]) == 0.0


def test_sum_list_refuses_non_numbers():
    with pytest.raises(TypeError):
        sum_list([1, "2"])
