from fmt_num import fmt_num


def fmt_coord(x: float, y: float) -> str:
    """'x,y' with both numbers formatted."""
    return f"{fmt_num(x)},{fmt_num(y)}"
