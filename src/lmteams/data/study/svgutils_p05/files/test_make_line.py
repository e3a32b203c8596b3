from make_line import make_line


def test_make_line():
    assert make_line(0, 0.5, 10.0, 20) == (
        '<line x1="0" y1="0.5" x2="10" y2="20" stroke="black" stroke-width="1"/>'
    )
