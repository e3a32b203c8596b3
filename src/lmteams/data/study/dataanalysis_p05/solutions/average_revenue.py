from add_revenue import add_revenue
from total_revenue import total_revenue


def average_revenue() -> float:
    """Mean revenue per record."""
    records = add_revenue()
    if not records:
        raise ValueError("no records")
    return total_revenue() / len(records)
