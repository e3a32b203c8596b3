"""Consensus strategies that call models: the imperative shell around :mod:`lmteams.consensus`.

Each strategy is a coroutine taking a :class:`~lmteams.strategies.base.Context` (an open team,
the question, the settings) and returning an :class:`~lmteams.strategies.result.AskResult` with its cost.
The pure rules it applies live in :mod:`lmteams.consensus`; the names match its catalog.

:mod:`lmteams.strategies.runners` holds them by name and runs one; this package's own module
imports nothing, so that its light parts (the result, the majority fast path) load alone.
"""
