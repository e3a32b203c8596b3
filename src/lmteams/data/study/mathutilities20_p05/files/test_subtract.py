from subtract import subtract


def test_subtract():
    assert subtract(5, 7) == -2
    assert subtract(2.5, 0.5) == 2.0
    assert subtract.__doc__
