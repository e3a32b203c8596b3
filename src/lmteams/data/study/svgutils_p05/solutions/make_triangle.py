from make_polygon import make_polygon


def make_triangle(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    x3: float,
    y3: float,
    fill: str = "none",
    stroke: str = "black",
) -> str:
    """A triangle as an SVG polygon."""
    return make_polygon([(x1, y1), (x2, y2), (x3, y3)], fill=fill, stroke=stroke)
