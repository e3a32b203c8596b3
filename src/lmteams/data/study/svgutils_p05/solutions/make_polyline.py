from fmt_points import fmt_points


def make_polyline(points: list, stroke: str = "black", stroke_width: int = 1) -> str:
    """An SVG polyline element."""
    pts = fmt_points(points)
    return f'<polyline points="{pts}" stroke="{stroke}" stroke-width="{stroke_width}" fill="none"/>'
