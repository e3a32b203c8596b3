from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def distinct_products(records: list) -> list:
    """Sorted unique product names."""
    return sorted({r["product"] for r in records})
