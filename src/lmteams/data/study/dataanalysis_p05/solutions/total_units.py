from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def total_units(records: list) -> int:
    """Sum of units."""
    return sum(r["units"] for r in records)
