from make_group import make_group
from make_rect import make_rect


def make_bar_chart(data: list, x: int, y: int, w: int, h: int) -> str:
    """One steelblue bar per value, heights proportional to the largest value."""
    bar_w = w // len(data)
    top = max(data)
    bars = []
    for index, value in enumerate(data):
        bar_h = h * value / top if top else 0
        bars.append(make_rect(x + index * bar_w, y + h - bar_h, bar_w, bar_h, fill="steelblue"))
    return make_group(bars)
