from make_comment import make_comment


def test_make_comment():
    assert make_comment("hello") == "<!-- hello -->"
