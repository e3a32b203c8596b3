"""Runtimes by name, as ``--runtime local|ray`` names them. Ray is imported only when used."""

from __future__ import annotations

from typing import Any

from lmteams.errors import ConfigError
from lmteams.runtime.base import Runtime

RUNTIMES = ("local", "ray")


def make_runtime(name: str = "local", address: str | None = None, **settings: Any) -> Runtime:
    """A new runtime: ``local`` (this process) or ``ray`` (Ray actors).

    ``address`` (Ray only): ``auto`` or ``HOST:PORT`` joins a running cluster; ``None`` starts
    a local one for the run. ``settings`` go to :class:`~lmteams.runtime.ray.runtime.RayRuntime`
    (``settings=RaySettings(...)``, ``num_cpus=...``). Raises
    :class:`~lmteams.errors.ConfigError` for an unknown name or an address without Ray.
    """
    name = name.strip().lower()
    if name == "local":
        if address is not None:
            raise ConfigError(
                "a Ray address needs --runtime ray (the local runtime runs in this process)",
                field="--ray-address",
            )
        if settings:
            raise ConfigError(
                f"the local runtime takes no settings; got {', '.join(sorted(settings))}",
                field="--runtime",
            )
        from lmteams.runtime.local import LocalRuntime

        return LocalRuntime()
    if name == "ray":
        # Neither module imports Ray itself: that happens when the runtime starts.
        from lmteams.runtime.ray.cluster import check_address
        from lmteams.runtime.ray.runtime import RayRuntime

        return RayRuntime(check_address(address), **settings)
    raise ConfigError(
        f"unknown runtime {name!r}; choose one of: {', '.join(RUNTIMES)}", field="--runtime"
    )
