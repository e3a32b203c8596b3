from fmt_coord import fmt_coord


def fmt_points(points: list) -> str:
    """Space-separated coordinate pairs."""
    return " ".join(fmt_coord(x, y) for x, y in points)
