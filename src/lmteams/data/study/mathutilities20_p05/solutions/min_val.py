def min_val(a: float, b: float) -> float:
    """The smaller of a and b without min()."""
    return a if a <= b else b
