from fmt_num import fmt_num


def make_line(
    x1: float, y1: float, x2: float, y2: float, stroke: str = "black", stroke_width: int = 1
) -> str:
    """An SVG line element."""
    return (
        f'<line x1="{fmt_num(x1)}" y1="{fmt_num(y1)}" x2="{fmt_num(x2)}" y2="{fmt_num(y2)}" '
        f'stroke="{stroke}" stroke-width="{stroke_width}"/>'
    )
