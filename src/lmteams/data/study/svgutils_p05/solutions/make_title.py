from make_text import make_text


def make_title(text: str, x: float, y: float, font_size: int = 16) -> str:
    """A bold, centered text element for a chart title."""
    element = make_text(x, y, text, font_size=font_size)
    return element.replace("<text ", '<text font-weight="bold" text-anchor="middle" ', 1)
