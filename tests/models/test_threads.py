"""The CPU budget arithmetic of embedded engines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.models.threads import engine_threads, free_cores, requested_threads, split_cores


@pytest.mark.parametrize(
    ("cores", "engines", "shares"),
    [
        (2, 1, (2,)),
        (2, 2, (1, 1)),
        (2, 3, (1, 1, 1)),
        (16, 3, (6, 5, 5)),
        (8, 2, (4, 4)),
        (1, 1, (1,)),
        (0, 2, (1, 1)),
    ],
)
def test_split_cores(cores: int, engines: int, shares: tuple[int, ...]) -> None:
    assert split_cores(cores, engines) == shares


@given(st.integers(1, 512), st.integers(1, 64))
def test_shares_use_every_core_evenly_and_never_starve(cores: int, engines: int) -> None:
    shares = split_cores(cores, engines)
    assert len(shares) == engines
    assert min(shares) >= 1
    assert max(shares) - min(shares) <= 1
    assert sum(shares) == max(cores, engines)


def test_no_engines_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_cores(4, 0)


def test_engine_threads_takes_a_request_as_given_and_otherwise_its_share() -> None:
    assert engine_threads(16, 3, 0, None) == 6
    assert engine_threads(16, 3, 2, None) == 5
    assert engine_threads(2, 3, 1, 4) == 4
    # An engine loaded beyond the count declared still gets a share, never an index error.
    assert engine_threads(4, 1, 1, None) == 2


@pytest.mark.parametrize(
    ("cores", "load", "free"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 14.6, 1), (16, 3.2, 13), (4, -1.0, 4)],
)
def test_free_cores_discount_the_load_average(cores: int, load: float, free: int) -> None:
    assert free_cores(cores, load) == free


def test_a_busy_machine_shrinks_the_default_but_not_a_request() -> None:
    assert engine_threads(2, 1, 0, None, load=0.0) == 2
    assert engine_threads(2, 1, 0, None, load=1.5) == 1
    assert engine_threads(16, 2, 0, None, load=8.0) == 4
    assert engine_threads(2, 1, 0, 2, load=9.0) == 2


def test_requested_threads_env_overrides_the_file() -> None:
    assert requested_threads(None, {}) is None
    assert requested_threads(3, {}) == 3
    assert requested_threads(3, {"LMTEAMS_N_THREADS": "1"}) == 1
    assert requested_threads(3, {"LMTEAMS_N_THREADS": " "}) == 3


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5", "100000"])
def test_a_bad_thread_count_in_the_environment_is_one_line(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        requested_threads(None, {"LMTEAMS_N_THREADS": raw})
    assert str(caught.value) == (
        f"LMTEAMS_N_THREADS: must be a whole number from 1 to 512, got {raw!r}"
    )
