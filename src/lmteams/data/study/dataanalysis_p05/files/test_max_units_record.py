import pytest
from max_units_record import SAMPLE_DATA, max_units_record
from sample_data import SAMPLE


def test_max_units_record():
    assert max_units_record(SAMPLE) == SAMPLE[4]
    with pytest.raises(ValueError):
        max_units_record([])
    assert SAMPLE_DATA == SAMPLE
