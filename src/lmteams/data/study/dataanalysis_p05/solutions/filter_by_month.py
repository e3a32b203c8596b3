from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def filter_by_month(records: list, month: str) -> list:
    """Records of one month."""
    return [r for r in records if r["month"] == month]
