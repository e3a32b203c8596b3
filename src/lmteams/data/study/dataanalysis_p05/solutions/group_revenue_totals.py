from group_by_product import group_by_product


def group_revenue_totals() -> dict:
    """Total revenue per product group."""
    return {
        product: sum(r["revenue"] for r in rows) for product, rows in group_by_product().items()
    }
