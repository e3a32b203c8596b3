from sum_list import sum_list


def mean(lst: list) -> float:
    """Arithmetic mean of a non-empty list."""
    if not lst:
        raise ValueError("mean of an empty list")
    return sum_list(lst) / len(lst)
