"""The five sales records the tasks' descriptions give as SAMPLE_DATA, kept once.

The tests compare each module's SAMPLE_DATA with these, and the reference solutions take
theirs from here: shared fixture data lives in one module, as in any project.
"""

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]
