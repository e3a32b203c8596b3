from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def max_units_record(records: list) -> dict:
    """The record with the most units."""
    if not records:
        raise ValueError("no records")
    return max(records, key=lambda r: r["units"])
