from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def filter_by_month(records: list, month: str) -> list:
    """Records of one month."""
    return [r for r in records if r["month"] == month]
