from make_circle import make_circle


def test_make_circle():
    assert make_circle(5, 5.5, 2.0, fill="red") == (
        '<circle cx="5" cy="5.5" r="2" fill="red" stroke="black"/>'
    )
