from above_average_records import above_average_records


def test_above_average_records():
    records = above_average_records()
    assert [(r["product"], r["units"]) for r in records] == [
        ("Doohickey", 3),
        ("Gadget", 12),
        ("Doohickey", 4),
        ("Widget", 15),
        ("Gadget", 6),
    ]
