def fmt_num(n: float) -> str:
    """A number as an SVG attribute value: 5.0 -> '5', 3.14 -> '3.14'."""
    if n % 1 == 0:
        return str(int(n))
    return f"{n:.4f}".rstrip("0")
