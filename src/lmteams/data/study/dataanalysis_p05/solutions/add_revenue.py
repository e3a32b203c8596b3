from remove_invalid import remove_invalid


def add_revenue() -> list:
    """Valid records, each copied with revenue = units * price."""
    return [{**r, "revenue": r["units"] * r["price"]} for r in remove_invalid()]
