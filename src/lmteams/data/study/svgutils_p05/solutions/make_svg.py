from make_group import make_group


def make_svg(width: int, height: int, children: list, title: str = "") -> str:
    """A complete SVG document."""
    group = make_group(children)
    title_tag = f"<title>{title}</title>" if title else ""
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"{title_tag}{group}</svg>"
    )
