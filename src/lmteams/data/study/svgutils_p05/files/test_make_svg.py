from make_svg import make_svg


def test_make_svg():
    assert make_svg(100, 50, ["<a/>"]) == (
        '<svg width="100" height="50" xmlns="http://www.w3.org/2000/svg"><g><a/></g></svg>'
    )
    titled = make_svg(10, 10, [], title="Chart")
    assert "<title>Chart</title><g></g></svg>" in titled
