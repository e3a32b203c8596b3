SALES_RECORDS = [
    {"product": "Widget", "units": 10, "price": 9.99, "region": "North", "month": "Jan"},
    {"product": "Gadget", "units": 5, "price": 24.99, "region": "South", "month": "Jan"},
    {"product": "Widget", "units": 8, "price": 9.99, "region": "East", "month": "Jan"},
    {"product": "Doohickey", "units": 3, "price": 49.99, "region": "West", "month": "Jan"},
    {"product": "Gadget", "units": 12, "price": 24.99, "region": "North", "month": "Feb"},
    {"product": "Widget", "units": 0, "price": 9.99, "region": "South", "month": "Feb"},
    {"product": "Sprocket", "units": 7, "price": 14.99, "region": "East", "month": "Feb"},
    {"product": "Doohickey", "units": 4, "price": 49.99, "region": "West", "month": "Feb"},
    {"product": "Widget", "units": 15, "price": 9.99, "region": "North", "month": "Mar"},
    {"product": "Sprocket", "units": 9, "price": 14.99, "region": "South", "month": "Mar"},
    {"product": "Gadget", "units": 6, "price": 24.99, "region": "East", "month": "Mar"},
    {"product": "Doohickey", "units": 2, "price": 49.99, "region": "West", "month": "Mar"},
]


def get_records() -> list:
    """Return the hard-coded sales records."""
    return SALES_RECORDS
