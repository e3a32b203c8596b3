from make_rect import make_rect


def test_make_rect():
    assert make_rect(1, 2.5, 10.0, 20) == (
        '<rect x="1" y="2.5" width="10" height="20" fill="none" stroke="black"/>'
    )
