from add import add


def test_add():
    assert add(2, 3) == 5
    assert add(-1.5, 0.5) == -1.0
    assert add.__doc__
