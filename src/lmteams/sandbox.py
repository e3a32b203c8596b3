"""Run untrusted programs (model-written code, task checks) in a constrained subprocess.

Each run gets a fresh temporary work folder (a copy of a workspace, plus any files given), a
minimal environment with no API keys or other secrets, and resource limits (address space, CPU
time, file size, processes). Where Linux namespaces can be had (as root or as a plain user),
:mod:`lmteams.sandbox_launch` puts the program in namespaces of its own:

* files: every mount read-only; the home folder, /tmp, /var/tmp, the event log's folder and the
  workspace's ``.lmteams`` folder hidden under empty tmpfs mounts (the interpreter and venv
  bound back read-only); the work folder the only writable place (plus a private, empty
  /dev/shm, for semaphores); the program runs as an unprivileged user, not as root;
* processes: its own pid namespace and /proc (other processes and their environments, API keys
  included, are invisible), and ``max_processes`` enforced per sandbox (a fork bomb stops at
  the cap; plain ``RLIMIT_NPROC`` is not enforced for root, the user namespace makes it so);
* network: a network namespace whose only interface is a loopback that is down.

What is missing is probed once and cached. With ``isolation: required`` (the default) a run
that cannot have all of it raises :class:`~lmteams.errors.SandboxUnavailable` before the
program starts; with ``best_effort`` it runs with what there is, says what is missing on the
first line of its stderr and in :attr:`SandboxResult.missing`, and logs a warning (once).

Output is read as it comes and at most ``output_limit_bytes`` of each stream is kept: its head
and its tail, with a ``[... N bytes cut ...]`` line between them; the rest is counted, never
buffered. A wall-clock time limit kills the whole process tree; what was printed before it is
kept.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmteams.errors import SandboxUnavailable
from lmteams.sandbox_settings import SandboxLimits

logger = logging.getLogger(__name__)

SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")
LAUNCHER = Path(__file__).with_name("sandbox_launch.py")
SANDBOX_UID = 65534  # the unprivileged uid sandboxed programs run as when lmteams runs as root
INNER_UID = 1000  # the uid a program sees inside, when lmteams runs as root
DRAIN_S = 2.0  # after a kill, how long to wait for the last output of escaped children
_CHUNK = 65536
_warned: set[tuple[str, ...]] = set()


@dataclass(frozen=True, slots=True)
class Isolation:
    """What a sandboxed program is shut off from (each True where it is)."""

    network: bool = False
    processes: bool = False
    files: bool = False
    process_limit: bool = False

    def missing(self, *, network_allowed: bool = False) -> tuple[str, ...]:
        """What is missing, one phrase each, in a fixed order."""
        gaps = []
        if not self.files:
            gaps.append("files (it can write where this user can and read the home folder)")
        if not self.processes:
            gaps.append("processes (it can see other processes and their environments)")
        if not self.process_limit:
            gaps.append("process limit (a fork bomb runs until the time limit)")
        if not self.network and not network_allowed:
            gaps.append("network")
        return tuple(gaps)


@dataclass(frozen=True, slots=True)
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    network_isolated: bool
    process_isolated: bool = False
    files_isolated: bool = False
    process_limited: bool = False
    missing: tuple[str, ...] = ()
    output_cut_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def isolation_note(self) -> str:
        """``full``, or ``weak: <what is missing>``: what logs record of the run's sandbox."""
        return "weak: " + "; ".join(self.missing) if self.missing else "full"

    def summary(self, limit: int = 2000) -> str:
        """What a node is shown when its check fails: the tail of the output."""
        status = "timed out" if self.timed_out else f"exit code {self.returncode}"
        text = (self.stdout + ("\n" + self.stderr if self.stderr else "")).strip()
        return f"{status}\n{text[-limit:]}"


# -- probing what this machine allows -----------------------------------------------------------

_PID_FLAGS = ["-p", "-f", "--mount-proc", "--kill-child"]


@functools.cache
def _namespace_flags(network: bool, pids: bool) -> tuple[str, ...] | None:
    """``unshare`` flags giving the wanted namespaces, or None where that does not work here.

    The fallback where the launcher cannot run: no file isolation, no process limit.
    """
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux") or not (network or pids):
        return None
    wanted = (["-n"] if network else []) + (_PID_FLAGS if pids else [])
    prefixes = [[]] if os.geteuid() == 0 else [[], ["-r"]]
    for prefix in prefixes:
        flags = [*prefix, *wanted]
        try:
            probe = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return tuple(flags)
    return None


@functools.cache
def _launcher_problem(isolate_network: bool) -> str | None:
    """Why the launcher cannot isolate a program here, or None when it can (probed once)."""
    if not sys.platform.startswith("linux"):
        return f"namespaces need Linux (this is {sys.platform})"
    # The probe runs this interpreter: checks and the python tool need it inside the view.
    probe_argv = [sys.executable, "-I", "-S", "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="lmteams-sandbox-probe-") as tmp:
        root = Path(tmp)
        _own(root)
        setup = _launch_setup(probe_argv, root, SandboxLimits(), isolate_network, hide=())
        try:
            probe = subprocess.run(
                _launcher_argv(setup), capture_output=True, timeout=30, cwd=root, env={}
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the launcher did not run: {exc}"
    if probe.returncode == 0:
        return None
    lines = probe.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"the launcher exited with {probe.returncode}"


def sandbox_isolation(*, network_allowed: bool = False) -> tuple[Isolation, str | None]:
    """(the isolation a sandboxed program gets here, why the launcher cannot run or None)."""
    problem = _launcher_problem(not network_allowed)
    if problem is None:
        return Isolation(not network_allowed, True, True, True), None
    for network, pids in ((not network_allowed, True), (not network_allowed, False), (False, True)):
        if _namespace_flags(network, pids) is not None:
            return Isolation(network=network, processes=pids), problem
    return Isolation(), problem


def network_isolation_available() -> bool:
    """Whether a sandboxed program can get a network namespace of its own here."""
    return sandbox_isolation()[0].network


def process_isolation_available() -> bool:
    """Whether a sandboxed program can get its own process namespace and /proc here."""
    return sandbox_isolation()[0].processes


def require_isolation(limits: SandboxLimits) -> Isolation:
    """The isolation programs run under ``limits`` get here; raises SandboxUnavailable when
    some is missing and ``limits.isolation`` is ``required``. Call it before a run starts."""
    isolation, problem = sandbox_isolation(network_allowed=limits.network)
    missing = isolation.missing(network_allowed=limits.network)
    if missing and limits.isolation == "required":
        raise SandboxUnavailable(
            "the sandbox cannot isolate model-written code here (missing: "
            + ", ".join(m.split(" (")[0] for m in missing)
            + (f"; {problem}" if problem else "")
            + "); set sandbox isolation: best_effort to run it anyway"
        )
    return isolation


# -- the launcher's setup -----------------------------------------------------------------------


def _home_folders() -> set[str]:
    homes = {os.environ.get("HOME", ""), os.path.expanduser("~")}
    try:
        homes.add(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        pass
    return {h for h in homes if h and h != "/"}


def hidden_folders(extra: Sequence[Path] = ()) -> list[str]:
    """Folders a sandboxed program must not see: homes, temporary folders, event logs."""
    folders = _home_folders() | {"/tmp", "/var/tmp", "/dev/shm", "/run/user", tempfile.gettempdir()}
    if os.environ.get("XDG_RUNTIME_DIR"):
        folders.add(os.environ["XDG_RUNTIME_DIR"])
    if os.environ.get("LMTEAMS_DB"):
        folders.add(str(Path(os.environ["LMTEAMS_DB"]).parent))
    try:
        folders.add(str(Path.cwd() / ".lmteams"))
    except OSError:
        pass  # the working folder is gone: nothing of it to hide
    folders.update(str(p) for p in extra)
    resolved = {os.path.realpath(f) for f in folders}
    return sorted(f for f in resolved if f != "/")


def _kept_folders(hide: Sequence[str]) -> list[str]:
    """This interpreter and its packages: bound back, read-only, where a hidden folder covers
    them. A folder that would uncover a hidden one (a home on sys.path) is not kept."""
    candidates = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *(p for p in sys.path if p and os.path.isdir(p)),
    }
    kept = set()
    for path in {os.path.realpath(c) for c in candidates}:
        if not any(h == path or h.startswith(path.rstrip("/") + "/") for h in hide):
            kept.add(path)
    return sorted(kept)


def _launch_setup(
    argv: Sequence[str],
    root: Path,
    limits: SandboxLimits,
    isolate_network: bool,
    *,
    hide: Sequence[Path],
) -> dict[str, object]:
    hidden = hidden_folders(hide)
    return {
        "argv": list(argv),
        "workdir": str(root.resolve()),
        "hide": hidden,
        "scratch": ["/dev/shm"],
        "keep": _kept_folders(hidden),
        "isolate_network": isolate_network,
        "max_processes": limits.max_processes,
        "outer_uid": SANDBOX_UID,
        "inner_uid": INNER_UID if os.geteuid() == 0 else os.geteuid(),
    }


def _launcher_argv(setup: Mapping[str, object]) -> list[str]:
    return [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(setup)]


def _own(root: Path) -> None:
    """As root, hand the work folder to the sandbox's uid: the only place it may write."""
    if os.geteuid() != 0:
        return
    os.chown(root, SANDBOX_UID, SANDBOX_UID)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


# -- running ------------------------------------------------------------------------------------


def minimal_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in SAFE_ENV_KEYS if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def _limit_resources(limits: SandboxLimits) -> None:
    """Runs in the child between fork and exec (RLIMIT_NPROC is set by the launcher: set here,
    it would count every process of this user, not the sandbox's)."""
    os.setsid()
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.time_limit_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _copy_tree(source: Path, target: Path) -> None:
    for item in source.iterdir():
        if item.name in (".git", "__pycache__", ".lmteams"):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name, symlinks=False, dirs_exist_ok=True)
        elif item.is_file():
            shutil.copy2(item, target / item.name)


def _prepare(root: Path, workdir: Path | None, files: Mapping[str, str], own: bool) -> None:
    if workdir is not None:
        _copy_tree(workdir, root)
    resolved_root = root.resolve()
    for name, content in files.items():
        path = (root / name).resolve()
        if resolved_root not in path.parents:
            raise ValueError(f"sandbox file {name!r} escapes the sandbox directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if own:
        _own(root)


class CappedOutput:
    """One output stream, kept up to ``cap`` bytes: its head and its tail; the middle is
    counted and dropped as it arrives, so memory stays near ``cap`` whatever is printed."""

    __slots__ = ("head", "head_cap", "tail", "tail_cap", "tail_len", "total")

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_len = 0
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_len += len(chunk)
        while self.tail_len - len(self.tail[0]) >= self.tail_cap:
            self.tail_len -= len(self.tail.popleft())

    @property
    def cut_bytes(self) -> int:
        return max(0, self.total - self.head_cap - self.tail_cap)

    def value(self) -> bytes:
        """What is kept: at most ``cap`` bytes, the cut marked by one line."""
        tail = b"".join(self.tail)
        if not self.cut_bytes:
            return bytes(self.head) + tail
        room = self.tail_cap - len(f"\n[... {self.total} bytes cut ...]\n")
        tail = tail[-room:] if room > 0 else b""
        cut = self.total - len(self.head) - len(tail)
        return bytes(self.head) + f"\n[... {cut} bytes cut ...]\n".encode() + tail


async def _pump(stream: asyncio.StreamReader | None, sink: CappedOutput) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_CHUNK):
        sink.feed(chunk)


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    try:
        stream.write(data)
        await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program stopped reading; what it did not read does not matter


async def run_sandboxed(
    argv: Sequence[str],
    *,
    workdir: Path | None = None,
    files: Mapping[str, str] | None = None,
    stdin: str | None = None,
    limits: SandboxLimits | None = None,
    env: Mapping[str, str] | None = None,
    hide: Sequence[Path] = (),
) -> SandboxResult:
    """Run ``argv`` in a fresh copy of ``workdir`` (plus ``files``) under ``limits``.

    ``hide`` adds folders the program must not see (an event log's folder). Raises
    SandboxUnavailable, before anything runs, where isolation is missing and required.
    The time limit applies to the whole run; cancelling the caller kills the process tree.
    ``env`` adds variables to the minimal environment; nothing of this process's environment
    leaks in except PATH and locale.
    """
    limits = limits or SandboxLimits()
    isolation = require_isolation(limits)
    missing = isolation.missing(network_allowed=limits.network)
    if missing and missing not in _warned:
        _warned.add(missing)  # once per process: a run may sandbox hundreds of checks
        logger.warning("sandbox with weak isolation, missing: %s", "; ".join(missing))
    with tempfile.TemporaryDirectory(prefix="lmteams-sandbox-") as tmp:
        root = Path(tmp)
        await asyncio.to_thread(_prepare, root, workdir, files or {}, isolation.files)
        if isolation.files:
            setup = _launch_setup(argv, root, limits, isolation.network, hide=hide)
            command = _launcher_argv(setup)
        else:
            flags = _namespace_flags(isolation.network, isolation.processes) or ()
            unshare = [shutil.which("unshare") or "unshare", *flags] if flags else []
            command = [*unshare, *argv]
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=root,
            env=minimal_env(root, env),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=functools.partial(_limit_resources, limits),
        )
        out = CappedOutput(limits.output_limit_bytes)
        err = CappedOutput(limits.output_limit_bytes)
        if missing:
            err.feed(f"lmteams sandbox: weak isolation, missing: {'; '.join(missing)}\n".encode())
        timed_out = False
        try:
            async with asyncio.timeout(limits.time_limit_s):
                async with asyncio.TaskGroup() as group:
                    group.create_task(_pump(process.stdout, out))
                    group.create_task(_pump(process.stderr, err))
                    if stdin is not None:
                        group.create_task(_feed(process.stdin, stdin.encode()))
                    group.create_task(process.wait())
        except TimeoutError:
            timed_out = True
            _kill_group(process.pid)
            await _drain(process, out, err)
        except BaseException:
            _kill_group(process.pid)
            await _wait_exited(process)
            raise
        finally:
            _kill_group(process.pid)  # leftover children of a finished program
        return SandboxResult(
            returncode=None if timed_out else process.returncode,
            stdout=out.value().decode(errors="replace"),
            stderr=err.value().decode(errors="replace"),
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            network_isolated=isolation.network,
            process_isolated=isolation.processes,
            files_isolated=isolation.files,
            process_limited=isolation.process_limit,
            missing=missing,
            output_cut_bytes=out.cut_bytes + err.cut_bytes,
        )


async def _drain(process: asyncio.subprocess.Process, out: CappedOutput, err: CappedOutput) -> None:
    """After a kill: the output still in the pipes, unless a child that escaped the kill holds
    them open past DRAIN_S."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async with asyncio.TaskGroup() as group:
                group.create_task(_pump(process.stdout, out))
                group.create_task(_pump(process.stderr, err))
                group.create_task(process.wait())
    except TimeoutError:
        pass
    await _wait_exited(process)


async def _wait_exited(process: asyncio.subprocess.Process) -> None:
    """Until the killed process has exited. Not ``process.wait()``: that also waits for its
    pipes to close, which an escaped child can put off forever (where there is no pid
    namespace to take it down)."""
    while process.returncode is None:  # noqa: ASYNC110 (asyncio offers no event for the exit alone)
        await asyncio.sleep(0.01)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def python_argv(script: str = "main.py") -> list[str]:
    """Run a Python file with this interpreter: no user site-packages, no PYTHON* variables."""
    return [sys.executable, "-s", "-E", script]
