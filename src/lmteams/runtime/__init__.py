"""Runtimes deliver request envelopes to nodes and bring their replies back."""
