"""Scheduling: task graphs, their analysis, and topologies as pure state machines."""
