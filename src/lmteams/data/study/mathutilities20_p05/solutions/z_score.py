from mean import mean
from std_dev import std_dev


def z_score(x: float, lst: list) -> float:
    """The z-score of x relative to lst."""
    sd = std_dev(lst)
    if sd == 0:
        raise ValueError("standard deviation is zero")
    return (x - mean(lst)) / sd
