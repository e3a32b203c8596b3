from make_group import make_group
from make_rect import make_rect
from make_text import make_text


def make_legend(items: list, x: float, y: float) -> str:
    """A 14x14 swatch and a label per (label, color) item, 20px apart."""
    parts = []
    for index, (label, color) in enumerate(items):
        top = y + index * 20
        parts.append(make_rect(x, top, 14, 14, fill=color))
        parts.append(make_text(x + 20, top + 12, label))
    return make_group(parts)
