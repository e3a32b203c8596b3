from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def filter_by_product(records: list, product: str) -> list:
    """Records of one product."""
    return [r for r in records if r["product"] == product]
