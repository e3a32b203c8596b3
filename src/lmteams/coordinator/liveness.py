"""Is a run's coordinator still alive? Read from the ``coordinator`` events it logs.

Every run logs its host and process id when it starts and when it is resumed (``run_started``,
``run_resumed``; a project run's coordinator also logs ``coordinator``). A run
still marked ``running`` whose last coordinator was a process of this host that no longer
exists was interrupted (killed, crashed, the machine rebooted): ``lmteams runs`` says so
rather than showing it running forever. On another host nothing can be told: it stays running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any


def coordinator_stamp() -> dict[str, Any]:
    """What a coordinator logs about itself when it starts."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def effective_status(status: str, coordinator_events: Sequence[Any]) -> str:
    """``interrupted`` for a running run whose last coordinator on this host is gone."""
    if status != "running" or not coordinator_events:
        return status
    last = coordinator_events[-1]
    data = last["data"] if isinstance(last, dict) else last.data
    if "pid" not in data:
        return status
    if data.get("host") != socket.gethostname():
        return status
    pid = data.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return status
    return status if pid_alive(pid) else "interrupted"
