from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def compute_line_revenue(record: dict) -> float:
    """units * price of one record."""
    return record["units"] * record["price"]
