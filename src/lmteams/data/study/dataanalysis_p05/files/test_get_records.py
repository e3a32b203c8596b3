from get_records import SALES_RECORDS, get_records


def test_get_records():
    records = get_records()
    assert records is SALES_RECORDS or records == SALES_RECORDS
    assert len(records) == 12
    assert sum(1 for r in records if r["units"] == 0) == 1
    assert records[0] == {
        "product": "Widget",
        "units": 10,
        "price": 9.99,
        "region": "North",
        "month": "Jan",
    }
    assert set(records[5]) == {"product", "units", "price", "region", "month"}
