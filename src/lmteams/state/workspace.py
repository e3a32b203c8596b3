"""A run's shared workspace: files with per-path leases and versioned (compare-and-set) writes.

Pure state with time passed in (``now``), so it behaves the same in real runs, under a virtual
clock and in the simulator. A lease gives one node the right to write a path until it expires
(a crashed holder's lease lapses on its own). A write names the version its author read; if the
file changed since, the write is refused as a conflict and nothing is lost. Every outcome is
returned as a value for the caller to log. Files a project brings (tests, fixtures) can be
marked read-only: a write to one is refused, whoever holds its lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WriteStatus = Literal["written", "conflict", "lease_held", "read_only"]


@dataclass(frozen=True, slots=True)
class Lease:
    path: str
    holder: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class FileVersion:
    path: str
    version: int
    content: str
    author: str
    task: str | None
    written_at: float

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class LeaseResult:
    granted: bool
    lease: Lease  # the lease now in force (ours, or the holder's when refused)


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: WriteStatus
    path: str
    version: int  # the file's version after the attempt
    expected: int
    holder: str | None = None  # who holds the lease when refused
    rewrite_of: str | None = None  # task whose finished file this write replaced

    @property
    def ok(self) -> bool:
        return self.status == "written"


class Workspace:
    """Files of one run, with leases and versions. Version 0 means "does not exist"."""

    def __init__(self, default_ttl_s: float = 600.0) -> None:
        self.default_ttl_s = default_ttl_s
        self.files: dict[str, FileVersion] = {}
        self.leases: dict[str, Lease] = {}
        self.finished_tasks: set[str] = set()
        self.read_only: set[str] = set()

    def provide(self, path: str, content: str, *, read_only: bool, now: float = 0.0) -> None:
        """Put a file the project brings into the workspace (before any node writes)."""
        self.files[path] = FileVersion(path, self.version(path) + 1, content, "project", None, now)
        if read_only:
            self.read_only.add(path)

    def version(self, path: str) -> int:
        current = self.files.get(path)
        return current.version if current else 0

    def read(self, path: str) -> str | None:
        current = self.files.get(path)
        return current.content if current else None

    def lease_of(self, path: str, now: float) -> Lease | None:
        lease = self.leases.get(path)
        if lease is not None and lease.expires_at <= now:
            del self.leases[path]
            return None
        return lease

    def acquire(self, path: str, node: str, now: float, ttl_s: float | None = None) -> LeaseResult:
        """Take (or renew) the lease on ``path`` for ``node``; refused while another holds it."""
        current = self.lease_of(path, now)
        if current is not None and current.holder != node:
            return LeaseResult(False, current)
        lease = Lease(path, node, now + (ttl_s if ttl_s is not None else self.default_ttl_s))
        self.leases[path] = lease
        return LeaseResult(True, lease)

    def release(self, path: str, node: str) -> bool:
        lease = self.leases.get(path)
        if lease is not None and lease.holder == node:
            del self.leases[path]
            return True
        return False

    def write(
        self,
        path: str,
        content: str,
        *,
        node: str,
        expected_version: int,
        now: float,
        task: str | None = None,
    ) -> WriteResult:
        """Compare-and-set: write only if the file is still at ``expected_version`` and no
        other node holds its lease, and never to a read-only file."""
        lease = self.lease_of(path, now)
        current = self.version(path)
        if path in self.read_only:
            return WriteResult("read_only", path, current, expected_version)
        if lease is not None and lease.holder != node:
            return WriteResult("lease_held", path, current, expected_version, holder=lease.holder)
        if current != expected_version:
            return WriteResult("conflict", path, current, expected_version)
        previous = self.files.get(path)
        rewrite_of = (
            previous.task
            if previous is not None
            and previous.task in self.finished_tasks
            and previous.task != task
            else None
        )
        self.files[path] = FileVersion(path, current + 1, content, node, task, now)
        return WriteResult("written", path, current + 1, expected_version, rewrite_of=rewrite_of)

    def mark_finished(self, task: str) -> None:
        self.finished_tasks.add(task)

    def restore(self, version: FileVersion) -> None:
        """Re-apply a logged write (resume)."""
        self.files[version.path] = version

    def materialize(self, root: Path) -> None:
        """Write every file under ``root`` (for checks, and for the user to look at)."""
        for path, current in self.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(current.content)
