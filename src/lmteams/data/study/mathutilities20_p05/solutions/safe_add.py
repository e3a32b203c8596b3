from add import add


def safe_add(a: float, b: float) -> float:
    """Add two numbers after checking that both are int or float."""
    for value in (a, b):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
    return add(a, b)
