"""Fault tolerance: detecting failures, reacting to them, and injecting them on purpose.

The policies are pure (no I/O, no asyncio, no clock: they take ``now`` and a seeded
``random.Random``): :mod:`~lmteams.faults.detector` (latency history, adaptive timeouts,
phi-accrual heartbeats, healthy/suspect/dead), :mod:`~lmteams.faults.retry`,
:mod:`~lmteams.faults.breaker`, :mod:`~lmteams.faults.hedge`,
:mod:`~lmteams.faults.ratelimit`, :mod:`~lmteams.faults.budget`,
:mod:`~lmteams.faults.reroute`, :mod:`~lmteams.faults.validation` and
:mod:`~lmteams.faults.injection`. The shell that carries their decisions out around every
node call is :mod:`~lmteams.faults.resilient` (routing, retries, hedging) over
:mod:`~lmteams.faults.attempt` (admission, deadlines, accounting of single attempts); :mod:`~lmteams.faults.inject` injects faults at
the runtime's edge. Team-file sections are the pydantic models of :mod:`~lmteams.faults.config`.
"""
