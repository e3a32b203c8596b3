from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def average_price(records: list) -> float:
    """Mean price."""
    if not records:
        raise ValueError("no records")
    return sum(r["price"] for r in records) / len(records)
