from sample_data import SAMPLE as SAMPLE_DATA  # noqa: F401 (the description's records, re-exported for the tests)


def filter_by_region(records: list, region: str) -> list:
    """Records of one region."""
    return [r for r in records if r["region"] == region]
