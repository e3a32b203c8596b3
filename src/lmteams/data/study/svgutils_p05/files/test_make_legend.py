from make_legend import make_legend


def test_make_legend():
    svg = make_legend([("A", "red"), ("B", "blue")], 0, 0)
    assert svg.startswith("<g>") and svg.endswith("</g>")
    assert svg.count("<rect") == 2 and svg.count("<text") == 2
    assert svg.count('width="14" height="14"') == 2
    assert 'fill="red"' in svg and 'fill="blue"' in svg
    assert ">A</text>" in svg and ">B</text>" in svg
    assert 'y="0"' in svg and 'y="20"' in svg
