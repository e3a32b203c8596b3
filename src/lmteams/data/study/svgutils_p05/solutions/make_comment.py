def make_comment(text: str) -> str:
    """An SVG/XML comment."""
    return f"<!-- {text} -->"
