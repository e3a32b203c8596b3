from abs_val import abs_val


def test_abs_val():
    assert abs_val(-3.5) == 3.5
    assert abs_val(2) == 2
    assert abs_val(0) == 0
