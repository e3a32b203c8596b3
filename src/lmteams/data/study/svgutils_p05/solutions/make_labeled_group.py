from make_group import make_group
from make_text import make_text


def make_labeled_group(children: list, label: str, lx: float, ly: float) -> str:
    """A group of the children plus a text label at (lx, ly)."""
    text_elem = make_text(lx, ly, label)
    return make_group([*children, text_elem])
