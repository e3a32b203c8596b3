from make_text import make_text


def test_make_text():
    assert make_text(10.0, 20.5, "hi") == (
        '<text x="10" y="20.5" font-size="12" fill="black">hi</text>'
    )
    assert 'font-size="8" fill="red"' in make_text(0, 0, "x", font_size=8, fill="red")
