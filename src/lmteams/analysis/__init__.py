"""Analysis: metrics from event logs (pure), plots and reports (matplotlib, imported lazily)."""
