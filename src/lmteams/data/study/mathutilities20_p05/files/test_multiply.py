from multiply import multiply


def test_multiply():
    assert multiply(3, -2.5) == -7.5
    assert multiply(0, 9) == 0
    assert multiply.__doc__
