import pytest
from safe_add import safe_add


def test_safe_add():
    assert safe_add(2, 3.5) == 5.5


def test_safe_add_refuses_non_numbers():
    with pytest.raises(TypeError):
        safe_add("1", 2)
    with pytest.raises(TypeError):
        safe_add(1, None)
