def multiply(a: float, b: float) -> float:
    """Return a * b."""
    return a * b
