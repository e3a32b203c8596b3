from safe_add import safe_add


def sum_list(lst: list) -> float:
    """Sum a list with safe_add (0.0 for an empty list)."""
    total = 0.0
    for x in lst:
        total = safe_add(total, x)
    return total
