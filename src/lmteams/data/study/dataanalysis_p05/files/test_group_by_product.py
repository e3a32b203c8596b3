from group_by_product import group_by_product


def test_group_by_product():
    groups = group_by_product()
    assert sorted(groups) == ["Doohickey", "Gadget", "Widget"]
    assert [r["units"] for r in groups["Gadget"]] == [12, 6]
    assert all(r["product"] == name for name, rows in groups.items() for r in rows)
