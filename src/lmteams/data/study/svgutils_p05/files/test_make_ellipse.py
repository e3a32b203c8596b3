from make_ellipse import make_ellipse


def test_make_ellipse():
    assert make_ellipse(5, 5, 3.5, 2) == (
        '<ellipse cx="5" cy="5" rx="3.5" ry="2" fill="none" stroke="black"/>'
    )
