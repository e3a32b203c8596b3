def modulo(a: float, b: float) -> float:
    """Return a % b; b must not be zero."""
    if b == 0:
        raise ValueError("modulo by zero")
    return a % b
