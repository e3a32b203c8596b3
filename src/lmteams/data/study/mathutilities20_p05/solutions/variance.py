from mean import mean


def variance(lst: list) -> float:
    """Population variance of a non-empty list."""
    if not lst:
        raise ValueError("variance of an empty list")
    m = mean(lst)
    return sum((x - m) ** 2 for x in lst) / len(lst)
