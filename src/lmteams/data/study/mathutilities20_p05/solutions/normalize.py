from z_score import z_score


def normalize(lst: list) -> list:
    """Replace every element by its z-score."""
    if not lst:
        raise ValueError("normalize of an empty list")
    if all(x == lst[0] for x in lst):
        raise ValueError("all values are identical")
    return [z_score(x, lst) for x in lst]
