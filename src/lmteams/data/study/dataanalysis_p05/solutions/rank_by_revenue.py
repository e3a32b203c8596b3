from group_revenue_totals import group_revenue_totals


def rank_by_revenue() -> list:
    """(product, total revenue) pairs, highest first."""
    return sorted(group_revenue_totals().items(), key=lambda item: item[1], reverse=True)
