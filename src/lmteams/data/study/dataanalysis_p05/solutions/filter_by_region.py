from sample_data import SAMPLE as SAMPLE_DATA  # the description's records


def filter_by_region(records: list, region: str) -> list:
    """Records of one region."""
    return [r for r in records if r["region"] == region]
