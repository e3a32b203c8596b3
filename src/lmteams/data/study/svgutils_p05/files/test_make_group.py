from make_group import make_group


def test_make_group():
    assert make_group(["<a/>", "<b/>"]) == "<g><a/><b/></g>"
    assert make_group(["<a/>"], transform="scale(2)") == '<g transform="scale(2)"><a/></g>'
    assert make_group([]) == "<g></g>"
