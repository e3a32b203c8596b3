"""Is a run's coordinator still alive? Read from the process stamps the run logs.

Every run logs its host and process id when it starts and when it is resumed (``run_started``,
``run_resumed``; a project run's coordinator also logs ``coordinator``). A run still marked
``running`` whose last coordinator was a process of this host that no longer exists was
interrupted (killed, crashed, the machine rebooted): ``lmteams runs`` says so rather than
showing it running forever, and ``lmteams resume`` may take it over. On another host nothing
can be told: it reads as running, and resuming it is allowed (the user knows where it ran).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

#: The events that carry a coordinator's stamp, oldest first in a run's log.
STAMPED = ("run_started", "run_resumed", "coordinator")


def coordinator_stamp() -> dict[str, Any]:
    """What a coordinator logs about itself when it starts."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists and is not a zombie (dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def last_coordinator(stamped_events: Sequence[Any]) -> int | None:
    """The pid of the run's last coordinator, if it was another process of this host."""
    if not stamped_events:
        return None
    last = stamped_events[-1]
    data = last["data"] if isinstance(last, dict) else last.data
    pid = data.get("pid")
    if not isinstance(pid, int) or data.get("host") != socket.gethostname():
        return None
    return None if pid == os.getpid() else pid


def coordinator_alive(stamped_events: Sequence[Any]) -> int | None:
    """The pid of the process of this host still running the run, if there is one."""
    pid = last_coordinator(stamped_events)
    return pid if pid is not None and pid_alive(pid) else None


def effective_status(status: str, stamped_events: Sequence[Any]) -> str:
    """``interrupted`` for a running run whose last coordinator on this host is gone."""
    if status != "running":
        return status
    pid = last_coordinator(stamped_events)
    return "interrupted" if pid is not None and not pid_alive(pid) else status
