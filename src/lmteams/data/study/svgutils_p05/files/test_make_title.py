from make_title import make_title


def test_make_title():
    svg = make_title("Sales", 50, 10)
    assert svg.startswith("<text") and svg.endswith(">Sales</text>")
    assert 'font-weight="bold"' in svg and 'text-anchor="middle"' in svg
    assert 'font-size="16"' in svg and 'x="50"' in svg and 'y="10"' in svg
