def abs_val(x: float) -> float:
    """Absolute value without abs()."""
    return -x if x < 0 else x
