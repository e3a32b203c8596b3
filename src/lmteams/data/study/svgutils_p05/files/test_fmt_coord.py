from fmt_coord import fmt_coord


def test_fmt_coord():
    assert fmt_coord(10, 20) == "10,20"
    assert fmt_coord(1.5, 2.5) == "1.5,2.5"
