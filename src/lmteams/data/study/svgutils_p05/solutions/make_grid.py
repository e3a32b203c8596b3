from make_group import make_group


def make_grid(items: list, cols: int, cell_w: int, cell_h: int) -> str:
    """Items laid out in a grid of cols columns."""
    cells = []
    for index, item in enumerate(items):
        row, col = divmod(index, cols)
        cells.append(make_group([item], transform=f"translate({col * cell_w}, {row * cell_h})"))
    return make_group(cells)
