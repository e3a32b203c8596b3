from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def compute_line_revenue(record: dict) -> float:
    """units * price of one record."""
    return record["units"] * record["price"]
