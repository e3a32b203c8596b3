"""Fault tolerance: detecting failures, reacting to them, and injecting them on purpose.

The policies are pure (no I/O, no asyncio, no clock: they take ``now`` and a seeded
``random.Random``): :mod:`~lmteams.faults.detector` (latency history, adaptive timeouts,
phi-accrual heartbeats, healthy/suspect/dead), :mod:`~lmteams.faults.retry`,
:mod:`~lmteams.faults.breaker`, :mod:`~lmteams.faults.hedge`,
:mod:`~lmteams.faults.ratelimit`, :mod:`~lmteams.faults.budget`,
:mod:`~lmteams.faults.reroute`, :mod:`~lmteams.faults.validation` and
:mod:`~lmteams.faults.injection.rules`.

The shell that carries their decisions out around every node call is
:class:`~lmteams.faults.resilient.Resilience` (the retry loop), composed of collaborators that
share one :class:`~lmteams.faults.board.FaultBoard` (health, breakers, limiters, budget,
counters; every transition logged): :mod:`~lmteams.faults.admission` (may an attempt be sent),
:mod:`~lmteams.faults.attempt` (one attempt and the accounting of its outcome),
:mod:`~lmteams.faults.router` (where each attempt goes) and :mod:`~lmteams.faults.hedging`
(copies of stragglers). :mod:`~lmteams.faults.injection.injector` injects faults at the
runtime's edge. Team-file sections are the pydantic models of :mod:`~lmteams.faults.config`.
"""
