from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def average_price(records: list) -> float:
    """Mean price."""
    if not records:
        raise ValueError("no records")
    return sum(r["price"] for r in records) / len(records)
