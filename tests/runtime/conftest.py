"""Ray fixtures: one local Ray instance for the whole session, and fresh Ray runtimes on it.

Any test can compare a run under the local runtime with the same run under Ray:

    async def test_same_under_ray(store, ray_runtime):
        spec, backends = scripted_team(8, script)
        local = await ask(spec, "q", store, backends=backends)
        remote = await ask(spec, "q", store, backends=backends, runtime=ray_runtime())
        assert comparable(local) == comparable(remote)

Outside tests/runtime, import the fixtures into the test module (pytest then finds them):
``from tests.runtime.conftest import comparable, ray_cluster, ray_runtime  # noqa: F401``.

Ray starts only inside ``scripts/loopback-only``; elsewhere these fixtures skip the test. Runs
under Ray take real time: ``VirtualClock`` does not reach the actors, so keep scripted latencies
short.

Scripts and test models defined in test modules reach the actors by value (cloudpickle), so
their module need not be importable there. Each actor holds its own copy of a scripted model:
count calls in the driver (event log, runtime statistics) or through an actor, never with a
counter on the model object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import tests
from tests.conftest import loopback_only

SKIP_REASON = (
    "starts Ray: runs only in a loopback-only network namespace "
    "(scripts/loopback-only .venv/bin/python -m pytest ...)"
)
# Results that differ between two runs of the same thing by nature (ids, clocks).
VOLATILE = frozenset({"run_id", "wall_s", "envelope_id", "id", "parent_id", "created_at"})


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray instance (2 CPUs, no dashboard), started once, stopped after the session."""
    if not loopback_only():
        pytest.skip(SKIP_REASON)
    import ray
    from ray import cloudpickle

    from lmteams.runtime.ray.cluster import start_local

    owned = not ray.is_initialized()
    if owned:
        start_local(num_cpus=2)
    cloudpickle.register_pickle_by_value(tests)
    yield
    # Test modules outside tests/runtime import this fixture too, which makes a second
    # session-scoped instance: the last one out finds the module already unregistered.
    with contextlib.suppress(ValueError):
        cloudpickle.unregister_pickle_by_value(tests)
    if owned:
        ray.shutdown()


@pytest.fixture
def ray_runtime(ray_cluster: None) -> Iterator[Callable[..., Any]]:
    """A factory of :class:`RayRuntime` on the session's Ray; each call is a fresh runtime.

    Keyword arguments are :class:`RaySettings` fields (``actors_per_machine=3``). Runtimes a
    test leaves open are closed (their actors killed) when it ends; Ray keeps running.
    """
    from lmteams.runtime.ray.runtime import RayRuntime
    from lmteams.runtime.ray.settings import RaySettings

    made: list[RayRuntime] = []

    def make(**settings: Any) -> RayRuntime:
        runtime = RayRuntime(settings=RaySettings(**settings) if settings else None)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close_nowait()


def comparable(value: Any) -> Any:
    """``value`` (a result, a pydantic model, dicts, lists) without ids and clock readings."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value
