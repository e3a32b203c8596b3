def max_val(a: float, b: float) -> float:
    """The larger of a and b without max()."""
    return a if a >= b else b
