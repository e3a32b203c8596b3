"""Backends opened once for the many runs of one process, and closed by whoever opened them.

A demo asks dozens of questions, a sweep runs a grid of cells, a server answers request after
request: each is a run of its own, and a run closes the backends its runtime built, so an
embedded model's engine (seconds to load) would be loaded again by every run. A caller that
runs several teams over the same models opens a :class:`BackendPool` around them instead and
gives each run :meth:`BackendPool.backends_for` as its ``backends``; runs do not close backends
they are given, the pool closes them when it ends. There is no process-wide cache: what one
pool opened, only that pool holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from lmteams.config import ModelSpec, TeamSpec
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import open_backend

#: Kinds a pool keeps open between runs: their backends hold an engine that takes seconds to
#: load and keep no state of a run. Other kinds are still built by each run, as before: a
#: scripted model counts its calls and draws its failures from a seeded generator, a tool may
#: hold a session, and an HTTP client is cheap to open.
KEPT_OPEN = frozenset({"embedded"})


class BackendPool:
    """``async with BackendPool(backends) as pool:`` then ``backends=pool.backends_for(spec)``.

    ``overrides`` (a caller's own backends, by model name, as every ``backends=`` takes) are
    given to every run as they are and are never closed by the pool.
    """

    def __init__(self, overrides: Mapping[str, ModelBackend] | None = None) -> None:
        self._overrides = dict(overrides or {})
        # (model name, its settings, the backend): a team file that defines the same name the
        # same way gets the same backend; a changed definition gets one of its own.
        self._opened: list[tuple[str, ModelSpec, ModelBackend]] = []

    def backends_for(self, spec: TeamSpec) -> dict[str, ModelBackend]:
        """The backends to run ``spec`` with: the overrides, and the pool's backend of each
        kept-open model its nodes use (opened here the first time a team needs it)."""
        backends = dict(self._overrides)
        for name in dict.fromkeys(spec.model_of(node) for node in spec.nodes):
            model = spec.models[name]
            if name in backends or model.backend not in KEPT_OPEN:
                continue
            found = next((b for n, m, b in self._opened if n == name and m == model), None)
            if found is None:
                found = open_backend(spec, name)
                self._opened.append((name, model, found))
            backends[name] = found
        return backends

    async def aclose(self) -> None:
        opened, self._opened = self._opened, []
        for _, _, backend in opened:
            await backend.aclose()

    async def __aenter__(self) -> BackendPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
