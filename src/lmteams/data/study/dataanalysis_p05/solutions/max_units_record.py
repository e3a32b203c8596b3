from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def max_units_record(records: list) -> dict:
    """The record with the most units."""
    if not records:
        raise ValueError("no records")
    return max(records, key=lambda r: r["units"])
