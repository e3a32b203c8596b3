from get_records import get_records


def remove_invalid() -> list:
    """Records with units > 0."""
    return [r for r in get_records() if r["units"] > 0]
