from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def sort_by_price(records: list) -> list:
    """Records by price, lowest first (a new list)."""
    return sorted(records, key=lambda r: r["price"])
