from fmt_num import fmt_num


def make_circle(cx: float, cy: float, r: float, fill: str = "none", stroke: str = "black") -> str:
    """An SVG circle element."""
    return (
        f'<circle cx="{fmt_num(cx)}" cy="{fmt_num(cy)}" r="{fmt_num(r)}" '
        f'fill="{fill}" stroke="{stroke}"/>'
    )
