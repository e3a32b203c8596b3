from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def sort_by_price(records: list) -> list:
    """Records by price, lowest first (a new list)."""
    return sorted(records, key=lambda r: r["price"])
