from make_triangle import make_triangle


def test_make_triangle():
    assert make_triangle(0, 0, 4, 0, 2, 3.5) == (
        '<polygon points="0,0 4,0 2,3.5" fill="none" stroke="black"/>'
    )
    assert 'fill="green"' in make_triangle(0, 0, 1, 0, 0, 1, fill="green")
