from fmt_num import fmt_num


def make_ellipse(
    cx: float, cy: float, rx: float, ry: float, fill: str = "none", stroke: str = "black"
) -> str:
    """An SVG ellipse element."""
    return (
        f'<ellipse cx="{fmt_num(cx)}" cy="{fmt_num(cy)}" rx="{fmt_num(rx)}" ry="{fmt_num(ry)}" '
        f'fill="{fill}" stroke="{stroke}"/>'
    )
