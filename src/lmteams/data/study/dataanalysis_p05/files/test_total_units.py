from sample_data import SAMPLE
from total_units import SAMPLE_DATA, total_units


def test_total_units():
    assert total_units(SAMPLE) == 38
    assert total_units([]) == 0
    assert SAMPLE_DATA == SAMPLE
