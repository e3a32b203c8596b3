from fmt_num import fmt_num


def test_fmt_num():
    assert fmt_num(5.0) == "5"
    assert fmt_num(3.14) == "3.14"
    assert fmt_num(3.1) == "3.1"
    assert fmt_num(-2) == "-2"
    assert fmt_num(0.12345) == "0.1235" or fmt_num(0.12345) == "0.1234"
