from normalize import normalize


def outlier_mask(lst: list, threshold: float = 2.0) -> list:
    """True where the z-score exceeds threshold in absolute value."""
    if len(lst) < 2:
        raise ValueError("too few values to normalize")
    return [abs(z) > threshold for z in normalize(lst)]
