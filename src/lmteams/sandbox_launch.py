"""The sandbox's launcher: namespaces, a read-only view of the files, then the program.

Run as ``python -I -S sandbox_launch.py SETUP_JSON`` between the sandbox and the program, under
the program's resource limits. It uses the standard library only (it must not import lmteams:
site-packages are not on its path) and Linux system calls through ctypes.

Steps, in order:

1. New user, mount, pid and (unless the network is allowed) network namespaces. Root inside
   the user namespace maps to an unprivileged uid outside (``outer_uid`` when this runs as
   root, else the caller's own uid), so ``RLIMIT_NPROC`` is enforced (the kernel does not
   enforce it for real root) and counted for this sandbox alone (counts are per namespace).
2. A fork: the child is pid 1 of the new pid namespace, with its own /proc. When it exits the
   kernel kills everything left in the namespace; when this launcher dies, it dies.
3. Every mount is remounted read-only. Each ``hide`` folder gets an empty read-only tmpfs over
   it (each ``scratch`` folder an empty writable one, private to this run); the ``keep``
   folders under a hidden one (the interpreter, the venv) are bound back read-only and the
   work folder is bound back writable: the only writable place the program shares with
   anyone.
4. ``RLIMIT_NPROC``, then a nested user namespace in which the program runs as a plain user
   (``inner_uid``) with no capabilities and no_new_privs, so it cannot undo the mounts.

A failed step prints ``lmteams sandbox: <step>: <error>`` on stderr and exits with
``SETUP_FAILED`` before the program starts.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import sys

SETUP_FAILED = 125

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
_LOCKED_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC  # statvfs reports these with the same bits

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def _call(step: str, result: int) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SetupError(f"{step}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _call(
        f"mount {target}",
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
    )


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as file:
            file.write(text)
    except OSError as exc:
        raise SetupError(f"write {path}: {exc.strerror}") from exc


def _under(path: str, folder: str) -> bool:
    return path != folder and path.startswith(folder.rstrip("/") + "/")


# -- 1. namespaces ------------------------------------------------------------------------------


def enter_namespaces(setup: dict[str, object]) -> dict[str, int]:
    """Enter the namespaces as root of the new user namespace; the folders to bind back, open."""
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID
    if setup["isolate_network"]:
        flags |= CLONE_NEWNET
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        # Only a process outside the new namespace may map it to another uid: a helper does.
        outer = int(str(setup["outer_uid"]))
        ready_r, ready_w = os.pipe()
        helper = os.fork()
        if helper == 0:
            os.close(ready_w)
            code = 1
            try:
                if os.read(ready_r, 1) == b"u":
                    parent = os.getppid()
                    _write(f"/proc/{parent}/uid_map", f"0 {outer} 1\n")
                    _write(f"/proc/{parent}/gid_map", f"0 {outer} 1\n")
                    code = 0
            except SetupError as exc:
                print(f"lmteams sandbox: {exc}", file=sys.stderr)
            os._exit(code)
        os.close(ready_r)
        try:
            _call("unshare", _libc.unshare(ctypes.c_int(flags)))
            os.write(ready_w, b"u")
        finally:
            os.close(ready_w)
            _, status = os.waitpid(helper, 0)
        if status != 0:
            raise SetupError("uid map: the mapping helper failed")
        os.setresgid(0, 0, 0)
        os.setgroups([])  # root's supplementary groups must not come along
    else:
        _call("unshare", _libc.unshare(ctypes.c_int(flags)))
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1\n")
        _write("/proc/self/gid_map", f"0 {gid} 1\n")
        os.setresgid(0, 0, 0)
    # Opened in the new mount namespace (a bind source must be in it), while this process still
    # has the caller's uid and may walk to them (the venv under a private home, say).
    fds = open_kept(setup)
    os.setresuid(0, 0, 0)
    return fds


# -- 3. the file view ---------------------------------------------------------------------------


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            point = line.split()[4]
            # mountinfo escapes space, tab, newline and backslash as octal
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point))
    return sorted(set(points), key=len)


def _remount(path: str, *, writable: bool) -> None:
    locked = os.statvfs(path).f_flag & _LOCKED_FLAGS
    _mount(None, path, None, MS_REMOUNT | MS_BIND | locked | (0 if writable else MS_RDONLY))


def make_read_only() -> None:
    for point in _mount_points():
        if point == "/proc" or _under(point, "/proc"):
            continue  # this pid namespace's own /proc, mounted just before
        try:
            _remount(point, writable=False)
        except (SetupError, OSError):
            # a mount we cannot see or reach (covered by another one) or one that is read-only
            # already is fine; anything else would leave a writable place
            try:
                if os.statvfs(point).f_flag & MS_RDONLY:
                    continue
            except OSError:
                continue
            raise


def _bind(fd: int, target: str, *, writable: bool) -> None:
    os.makedirs(target, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    _remount(target, writable=writable)


def open_kept(setup: dict[str, object]) -> dict[str, int]:
    """The folders to bind back, opened while this process may still walk to them."""
    fds = {}
    for path in [*setup["keep"], setup["workdir"]]:  # type: ignore[misc]
        try:
            fds[str(path)] = os.open(str(path), os.O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
    return fds


def build_view(setup: dict[str, object], fds: dict[str, int]) -> None:
    workdir = str(setup["workdir"])
    hide = sorted({str(p) for p in setup["hide"]}, key=len)  # type: ignore[attr-defined]
    scratch = {str(p) for p in setup["scratch"]}  # type: ignore[attr-defined]
    keep = [(p, False) for p in fds if p != workdir] + [(workdir, True)]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    make_read_only()
    bound = set()
    for folder in hide:
        if not os.path.isdir(folder) or os.path.islink(folder):
            continue  # absent, or already covered by an outer hidden folder
        size = "16m" if folder in scratch else "1m"
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=755,size={size}")
        for path, writable in keep:
            if _under(path, folder):
                _bind(fds[path], path, writable=writable)
                bound.add(path)
        if folder not in scratch:
            _remount(folder, writable=False)
    if workdir not in bound:
        _bind(fds[workdir], workdir, writable=True)
    for fd in fds.values():
        os.close(fd)


# -- 4. the program -----------------------------------------------------------------------------


def drop_to_user(setup: dict[str, object]) -> None:
    nproc = int(str(setup["max_processes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    inner = int(str(setup["inner_uid"]))
    # A uid change made this process non-dumpable, which hands its /proc files to root.
    _call("dumpable", _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
    _call("unshare (nested user namespace)", _libc.unshare(ctypes.c_int(CLONE_NEWUSER)))
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inner} 0 1\n")
    _write("/proc/self/gid_map", f"{inner} 0 1\n")
    os.setresgid(inner, inner, inner)
    os.setresuid(inner, inner, inner)
    _call("no_new_privs", _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))


def run_program(setup: dict[str, object], fds: dict[str, int]) -> None:
    """pid 1 of the new pid namespace: never returns."""
    try:
        _call("parent death signal", _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))
        build_view(setup, fds)
        drop_to_user(setup)
        os.chdir(str(setup["workdir"]))
    except (SetupError, OSError) as exc:
        print(f"lmteams sandbox: {exc}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    argv = [str(a) for a in setup["argv"]]  # type: ignore[attr-defined]
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"lmteams sandbox: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)


def main() -> None:
    setup = json.loads(sys.argv[1])
    try:
        fds = enter_namespaces(setup)
    except (SetupError, OSError) as exc:
        print(f"lmteams sandbox: {exc}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    child = os.fork()
    if child == 0:
        run_program(setup, fds)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
