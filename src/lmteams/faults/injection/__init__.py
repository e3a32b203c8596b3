"""Fault injection: faults made on purpose, to test what the resilience layer survives.

- ``rules``: the pure part: which call of which node suffers what (``faults:`` sections and
  ``--inject`` flags parsed, each node's seeded decisions), shared by real runs and the
  simulator;
- ``injector``: :class:`~lmteams.faults.injection.injector.FaultInjectingRuntime`, the runtime
  wrapper that carries those decisions out at the edge of a real run.

Nothing is imported here, so the simulator can use the rules without the runtime.
"""
