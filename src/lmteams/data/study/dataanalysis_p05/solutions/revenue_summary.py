from rank_by_revenue import rank_by_revenue


def revenue_summary() -> dict:
    """Rankings, the top product and the grand total."""
    rankings = rank_by_revenue()
    if not rankings:
        raise ValueError("no rankings")
    return {
        "rankings": rankings,
        "top_product": rankings[0][0],
        "grand_total": sum(total for _, total in rankings),
    }
