from distinct_products import SAMPLE_DATA, distinct_products

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def test_distinct_products():
    assert distinct_products(SAMPLE) == ["Alpha", "Beta", "Gamma"]
    assert distinct_products([]) == []
    assert SAMPLE_DATA == SAMPLE
