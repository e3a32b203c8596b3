from is_even import is_even


def test_is_even():
    assert is_even(4) and is_even(0) and is_even(-2)
    assert not is_even(7) and not is_even(-3)
