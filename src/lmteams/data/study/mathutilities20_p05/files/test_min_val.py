from min_val import min_val


def test_min_val():
    assert min_val(2, 9) == 2
    assert min_val(-1, -5) == -5
    assert min_val(3, 3) == 3
