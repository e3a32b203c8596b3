from add_revenue import add_revenue
from average_revenue import average_revenue


def above_average_records() -> list:
    """Records whose revenue is above the average."""
    threshold = average_revenue()
    return [r for r in add_revenue() if r["revenue"] > threshold]
