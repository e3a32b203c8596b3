"""Run untrusted programs (model-written code, task checks) in a constrained subprocess.

Each run gets a fresh temporary directory (a copy of a workspace, plus any files given), a
minimal environment with no API keys or other secrets, resource limits (address space, CPU
time, file size) and, where the platform allows it, namespaces of its own: no network (a new
network namespace whose only interface is a loopback that is down) and its own process tree
with its own /proc, so it cannot read the coordinator's environment (API keys) through
/proc/<pid>/environ. A wall-clock time limit kills the whole process group. Model-written code
never runs in the coordinator's process. It can still read files the user can read.
"""

from __future__ import annotations

import asyncio
import functools
import os
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

from pydantic import BaseModel, ConfigDict, Field

SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")


class SandboxLimits(BaseModel):
    """Limits of one sandboxed run (also the ``sandbox:`` settings of projects and tools)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: float = Field(30.0, gt=0, le=3600)
    memory_mb: int = Field(1024, ge=16, le=65536)
    output_limit_bytes: int = Field(64_000, ge=256, le=16_000_000)
    network: bool = Field(False, description="Allow network access (off by default).")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    network_isolated: bool
    process_isolated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def summary(self, limit: int = 2000) -> str:
        """What a node is shown when its check fails: the tail of the output."""
        status = "timed out" if self.timed_out else f"exit code {self.returncode}"
        text = (self.stdout + ("\n" + self.stderr if self.stderr else "")).strip()
        return f"{status}\n{text[-limit:]}"


_PID_FLAGS = ["-p", "-f", "--mount-proc", "--kill-child"]


@functools.cache
def _namespace_flags(network: bool, pids: bool) -> tuple[str, ...] | None:
    """``unshare`` flags giving the wanted namespaces, or None where that does not work here."""
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


def network_isolation_available() -> bool:
    """Whether a sandboxed program can get a network namespace of its own here."""
    return _namespace_flags(True, False) is not None


def process_isolation_available() -> bool:
    """Whether a sandboxed program can get its own process namespace and /proc here."""
    return _namespace_flags(False, True) is not None


def _isolation(network_allowed: bool) -> tuple[list[str], bool, bool]:
    """(unshare flags, network isolated, processes isolated): the most isolation available."""
    for network, pids in ((not network_allowed, True), (not network_allowed, False), (False, True)):
        flags = _namespace_flags(network, pids)
        if flags is not None:
            return list(flags), network, pids
    return [], False, False


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
    """Runs in the child between fork and exec."""
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


def _prepare(root: Path, workdir: Path | None, files: Mapping[str, str]) -> None:
    if workdir is not None:
        _copy_tree(workdir, root)
    resolved_root = root.resolve()
    for name, content in files.items():
        path = (root / name).resolve()
        if resolved_root not in path.parents:
            raise ValueError(f"sandbox file {name!r} escapes the sandbox directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


async def run_sandboxed(
    argv: Sequence[str],
    *,
    workdir: Path | None = None,
    files: Mapping[str, str] | None = None,
    stdin: str | None = None,
    limits: SandboxLimits | None = None,
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run ``argv`` in a fresh copy of ``workdir`` (plus ``files``) under ``limits``.

    Cancelling the caller kills the process group. ``env`` adds variables to the minimal
    environment; nothing of this process's environment leaks in except PATH and locale.
    """
    limits = limits or SandboxLimits()
    flags, net_isolated, pid_isolated = _isolation(limits.network)
    with tempfile.TemporaryDirectory(prefix="lmteams-sandbox-") as tmp:
        root = Path(tmp)
        await asyncio.to_thread(_prepare, root, workdir, files or {})
        command = list(argv)
        if flags:
            command = [shutil.which("unshare") or "unshare", *flags, *command]
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
        timed_out = False
        try:
            async with asyncio.timeout(limits.time_limit_s):
                out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        except TimeoutError:
            timed_out = True
            _kill_group(process.pid)
            out, err = await process.communicate()
        except BaseException:
            _kill_group(process.pid)
            await process.wait()
            raise
        finally:
            _kill_group(process.pid)  # leftover children of a finished program
        cap = limits.output_limit_bytes
        return SandboxResult(
            returncode=None if timed_out else process.returncode,
            stdout=out[:cap].decode(errors="replace"),
            stderr=err[:cap].decode(errors="replace"),
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            network_isolated=net_isolated,
            process_isolated=pid_isolated,
        )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def python_argv(script: str = "main.py") -> list[str]:
    """Run a Python file with this interpreter: no user site-packages, no PYTHON* variables."""
    return [sys.executable, "-s", "-E", script]
