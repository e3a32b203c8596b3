from above_average_records import above_average_records


def group_by_product() -> dict:
    """Above-average records grouped by product name."""
    groups: dict = {}
    for record in above_average_records():
        groups.setdefault(record["product"], []).append(record)
    return groups
