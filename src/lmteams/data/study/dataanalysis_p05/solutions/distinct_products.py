from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def distinct_products(records: list) -> list:
    """Sorted unique product names."""
    return sorted({r["product"] for r in records})
