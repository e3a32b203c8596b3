from make_labeled_group import make_labeled_group


def test_make_labeled_group():
    assert make_labeled_group(["<a/>"], "Label", 5, 6) == (
        '<g><a/><text x="5" y="6" font-size="12" fill="black">Label</text></g>'
    )
