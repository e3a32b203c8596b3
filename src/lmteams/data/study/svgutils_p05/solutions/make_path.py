def make_path(d: str, fill: str = "none", stroke: str = "black") -> str:
    """An SVG path element."""
    return f'<path d="{d}" fill="{fill}" stroke="{stroke}"/>'
