def clamp(x: float, lo: float, hi: float) -> float:
    """x clamped to [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
