from fmt_num import fmt_num


def make_text(x: float, y: float, content: str, font_size: int = 12, fill: str = "black") -> str:
    """An SVG text element."""
    return (
        f'<text x="{fmt_num(x)}" y="{fmt_num(y)}" font-size="{font_size}" fill="{fill}">'
        f"{content}</text>"
    )
