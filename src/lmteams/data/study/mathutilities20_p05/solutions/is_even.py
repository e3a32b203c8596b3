def is_even(n: int) -> bool:
    """True if n is even."""
    return n % 2 == 0
