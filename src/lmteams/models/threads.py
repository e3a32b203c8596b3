"""The CPU budget of embedded engines: how many threads each engine of a process decodes with.

llama.cpp's default (one thread per core for every engine) oversubscribes a team of several
engines by construction, and its threads meet at a barrier per token, so one descheduled
thread stalls the whole engine: measured on 2 busy cores, all-cores decoding ran 5 to 20
times slower than one thread. The cores not already busy (by the load average) are therefore
split among the engines a process loads, each getting at least one; an explicit request (team file ``n_threads``, ``LMTEAMS_N_THREADS``
or ``--threads``) is taken as given. See ``bench/engines.py`` for the measurements.

Pure: callers pass the core count and the engine count in.
"""

from __future__ import annotations

from collections.abc import Mapping

from lmteams.errors import ConfigError

THREADS_ENV = "LMTEAMS_N_THREADS"
MAX_THREADS = 512


def split_cores(cores: int, engines: int) -> tuple[int, ...]:
    """Threads for each of ``engines`` engines sharing ``cores`` cores.

    The shares add up to ``cores`` when there are at least as many cores as engines (the first
    ``cores % engines`` engines get one more); with fewer cores than engines every engine
    still gets one thread.
    """
    if engines < 1:
        raise ValueError("engines must be at least 1")
    cores = max(1, cores)
    if engines >= cores:
        return (1,) * engines
    share, extra = divmod(cores, engines)
    return tuple(share + (1 if i < extra else 0) for i in range(engines))


def free_cores(cores: int, load: float) -> int:
    """Cores not kept busy by other work, given the 1-minute load average; at least one.

    A core counts as busy from half a runnable process on. The load average lags (it is a
    one-minute mean), so this reads the machine as it was, which is what a default can know.
    """
    return max(1, cores - int(max(0.0, load) + 0.5))


def engine_threads(
    cores: int, engines: int, index: int, requested: int | None, load: float = 0.0
) -> int:
    """Threads for the engine loaded ``index``-th (from 0) among ``engines`` of a process.

    ``load`` (the load average) shrinks the budget to the free cores: on a busy machine
    one thread per engine decoded several times faster than more (bench/engines.py).
    """
    if requested is not None:
        return requested
    shares = split_cores(free_cores(cores, load), max(engines, index + 1))
    return shares[index]


def requested_threads(file_value: int | None, environ: Mapping[str, str]) -> int | None:
    """``LMTEAMS_N_THREADS`` when set (it overrides team files), else the file's ``n_threads``."""
    raw = environ.get(THREADS_ENV, "").strip()
    if not raw:
        return file_value
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_THREADS:
        raise ConfigError(
            f"must be a whole number from 1 to {MAX_THREADS}, got {raw!r}", source=THREADS_ENV
        )
    return value
