from compute_line_revenue import SAMPLE_DATA, compute_line_revenue

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def test_compute_line_revenue():
    assert compute_line_revenue(SAMPLE[0]) == 50.0
    assert compute_line_revenue(SAMPLE[3]) == 60.0
    assert SAMPLE_DATA == SAMPLE
