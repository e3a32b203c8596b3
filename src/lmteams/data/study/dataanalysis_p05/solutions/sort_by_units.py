from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def sort_by_units(records: list) -> list:
    """Records by units, highest first (a new list)."""
    return sorted(records, key=lambda r: r["units"], reverse=True)
