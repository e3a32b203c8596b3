def make_group(children: list, transform: str = "") -> str:
    """Children wrapped in <g>, with a transform attribute when one is given."""
    inner = "".join(children)
    if transform:
        return f'<g transform="{transform}">{inner}</g>'
    return f"<g>{inner}</g>"
