"""Consensus: pure rules that turn several nodes' answers into one team answer."""
