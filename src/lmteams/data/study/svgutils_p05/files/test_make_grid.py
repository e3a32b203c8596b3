from make_grid import make_grid


def _compact(text):
    return text.replace(" ", "")


def test_make_grid():
    svg = _compact(make_grid(["<a/>", "<b/>", "<c/>"], 2, 10, 20))
    assert svg.startswith("<g>") and svg.endswith("</g>")
    assert '<gtransform="translate(0,0)"><a/></g>' in svg
    assert '<gtransform="translate(10,0)"><b/></g>' in svg
    assert '<gtransform="translate(0,20)"><c/></g>' in svg
