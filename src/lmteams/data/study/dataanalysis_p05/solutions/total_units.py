from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def total_units(records: list) -> int:
    """Sum of units."""
    return sum(r["units"] for r in records)
