from distinct_products import SAMPLE_DATA, distinct_products
from sample_data import SAMPLE


def test_distinct_products():
    assert distinct_products(SAMPLE) == ["Alpha", "Beta", "Gamma"]
    assert distinct_products([]) == []
    assert SAMPLE_DATA == SAMPLE
