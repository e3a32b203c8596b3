from variance import variance


def std_dev(lst: list) -> float:
    """Population standard deviation of a non-empty list."""
    if not lst:
        raise ValueError("std_dev of an empty list")
    return variance(lst) ** 0.5
