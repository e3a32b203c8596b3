from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmteams.sandbox import hidden_folders, sandbox_isolation


def _under_any(path: Path, folders: list[str]) -> bool:
    return any(path == Path(f) or Path(f) in path.parents for f in folders)


@pytest.fixture
def visible_dir() -> Iterator[Path]:
    """A folder this user may write that no default hidden folder covers (pytest's tmp_path
    lives under /tmp, which the sandbox hides: an escape test there would prove too little)."""
    hidden = hidden_folders()
    for candidate in (Path(sys.prefix), Path(__file__).resolve().parents[2]):
        if candidate.is_dir() and not _under_any(candidate.resolve(), hidden):
            try:
                folder = Path(tempfile.mkdtemp(prefix=".lmteams-sandbox-test-", dir=candidate))
            except OSError:
                continue
            # open to everyone: then the sandbox, not file permissions, is what blocks a program
            folder.chmod(0o777)
            yield folder.resolve()
            shutil.rmtree(folder, ignore_errors=True)
            return
    pytest.skip("no writable folder outside the sandbox's hidden folders")


full_isolation = pytest.mark.skipif(
    sandbox_isolation()[1] is not None, reason="no user, mount and pid namespaces here"
)
