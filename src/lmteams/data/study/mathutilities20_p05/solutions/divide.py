def divide(a: float, b: float) -> float:
    """Return a / b; b must not be zero."""
    if b == 0:
        raise ValueError("division by zero")
    return a / b
