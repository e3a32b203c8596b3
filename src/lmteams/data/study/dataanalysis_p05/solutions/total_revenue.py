from add_revenue import add_revenue


def total_revenue() -> float:
    """Sum of revenue over all records."""
    return sum(r["revenue"] for r in add_revenue())
