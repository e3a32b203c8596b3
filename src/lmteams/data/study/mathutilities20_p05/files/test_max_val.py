from max_val import max_val


def test_max_val():
    assert max_val(2, 9) == 9
    assert max_val(-1, -5) == -1
    assert max_val(3, 3) == 3
