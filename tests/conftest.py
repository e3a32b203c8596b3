from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from lmteams.state.store import EventStore

# CI replays fixed examples (a red CI run means a real regression, never an unlucky draw);
# a plain `make test` explores new ones each time. HYPOTHESIS_PROFILE=ci selects the former.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))

# A shell starts a background job (`make test &`, nohup) with SIGINT ignored, and an ignored
# signal stays ignored in every child: the Ctrl-C tests' commands would never see their
# SIGINT. Catching it here makes the children start with the default disposition again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore(tmp_path / "lmteams.db")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory, so default ./.lmteams paths never collide."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMTEAMS_DB", raising=False)
    monkeypatch.delenv("LMTEAMS_TEAM", raising=False)


def loopback_only() -> bool:
    """True when this process can reach nothing but loopback (see scripts/loopback-only).

    Reads /proc/self/net/dev, which lists this process's network namespace; /sys/class/net
    shows the namespace that mounted /sys, which `unshare -n` does not remount.
    """
    try:
        with open("/proc/self/net/dev", encoding="ascii") as table:
            rows = table.read().splitlines()[2:]
    except OSError:
        return False
    return [row.split(":", 1)[0].strip() for row in rows] == ["lo"]
