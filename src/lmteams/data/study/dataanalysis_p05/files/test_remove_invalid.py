from remove_invalid import remove_invalid


def test_remove_invalid():
    records = remove_invalid()
    assert len(records) == 11
    assert all(r["units"] > 0 for r in records)
