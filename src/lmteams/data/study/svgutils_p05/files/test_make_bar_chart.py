import re

from make_bar_chart import make_bar_chart


def test_make_bar_chart():
    svg = make_bar_chart([1, 2, 4], 0, 0, 30, 100)
    assert svg.startswith("<g>") and svg.endswith("</g>")
    assert svg.count("<rect") == 3
    assert svg.count('fill="steelblue"') == 3
    widths = re.findall(r'width="([\d.]+)"', svg)
    assert widths == ["10", "10", "10"]
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"', svg)]
    assert heights[2] == 100 and heights[0] * 4 == heights[2] and heights[1] * 2 == heights[2]
