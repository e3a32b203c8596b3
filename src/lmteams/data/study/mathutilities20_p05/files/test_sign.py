from sign import sign


def test_sign():
    assert sign(4.2) == 1
    assert sign(-0.1) == -1
    assert sign(0) == 0
