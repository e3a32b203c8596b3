from make_polygon import make_polygon


def test_make_polygon():
    assert make_polygon([(0, 0), (4, 0), (4, 3)]) == (
        '<polygon points="0,0 4,0 4,3" fill="none" stroke="black"/>'
    )
    assert 'fill="blue" stroke="red"' in make_polygon([(0, 0)], fill="blue", stroke="red")
