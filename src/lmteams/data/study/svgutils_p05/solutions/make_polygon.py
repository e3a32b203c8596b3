from fmt_points import fmt_points


def make_polygon(points: list, fill: str = "none", stroke: str = "black") -> str:
    """An SVG polygon element."""
    return f'<polygon points="{fmt_points(points)}" fill="{fill}" stroke="{stroke}"/>'
