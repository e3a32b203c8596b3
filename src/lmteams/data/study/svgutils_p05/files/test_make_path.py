from make_path import make_path


def test_make_path():
    assert make_path("M0 0 L10 10") == '<path d="M0 0 L10 10" fill="none" stroke="black"/>'
    assert 'fill="red"' in make_path("M0 0", fill="red")
