from fmt_points import fmt_points


def test_fmt_points():
    assert fmt_points([(0, 0), (10, 10)]) == "0,0 10,10"
    assert fmt_points([(1.5, 2)]) == "1.5,2"
