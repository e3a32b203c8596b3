SAMPLE_DATA = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def filter_by_product(records: list, product: str) -> list:
    """Records of one product."""
    return [r for r in records if r["product"] == product]
