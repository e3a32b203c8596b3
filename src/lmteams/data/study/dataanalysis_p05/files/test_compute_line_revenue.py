from compute_line_revenue import SAMPLE_DATA, compute_line_revenue
from sample_data import SAMPLE


def test_compute_line_revenue():
    assert compute_line_revenue(SAMPLE[0]) == 50.0
    assert compute_line_revenue(SAMPLE[3]) == 60.0
    assert SAMPLE_DATA == SAMPLE
