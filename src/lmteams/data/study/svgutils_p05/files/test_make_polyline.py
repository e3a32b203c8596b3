from make_polyline import make_polyline


def test_make_polyline():
    assert make_polyline([(0, 0), (10, 5)]) == (
        '<polyline points="0,0 10,5" stroke="black" stroke-width="1" fill="none"/>'
    )
    assert 'stroke="red" stroke-width="3"' in make_polyline([(0, 0)], "red", 3)
