from fmt_num import fmt_num


def make_rect(
    x: float, y: float, w: float, h: float, fill: str = "none", stroke: str = "black"
) -> str:
    """An SVG rect element."""
    return (
        f'<rect x="{fmt_num(x)}" y="{fmt_num(y)}" width="{fmt_num(w)}" height="{fmt_num(h)}" '
        f'fill="{fill}" stroke="{stroke}"/>'
    )
