import pytest
from modulo import modulo


def test_modulo():
    assert modulo(7, 3) == 1
    assert modulo(7.5, 2) == 1.5
    with pytest.raises(ValueError):
        modulo(1, 0)
