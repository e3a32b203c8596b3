def sign(x: float) -> int:
    """1, -1 or 0 by the sign of x."""
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0
