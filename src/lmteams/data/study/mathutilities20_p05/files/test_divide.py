import pytest
from divide import divide


def test_divide():
    assert divide(7, 2) == 3.5
    with pytest.raises(ValueError):
        divide(1, 0)
