from outlier_mask import outlier_mask


def filter_outliers(lst: list, threshold: float = 2.0) -> list:
    """The list without its outliers."""
    if not lst:
        raise ValueError("filter_outliers of an empty list")
    return [x for x, is_out in zip(lst, outlier_mask(lst, threshold), strict=False) if not is_out]
