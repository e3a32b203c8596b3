"""A catalog model's GGUF file on disk: found in its package, or assembled from chunks once.

Parts are located through the installed distributions' file lists (``importlib.metadata``), so
the packages are never imported. A chunked model is stream-concatenated into the cache folder
(``LMTEAMS_MODEL_CACHE``, else ``$XDG_CACHE_HOME/lmteams/models``, else
``~/.cache/lmteams/models``) under a lock: written to a temporary file beside the target,
hashed while written, fsynced, verified and only then renamed into place, so a reader never
sees a partial file and two processes assembling at once end with one correct file.

A verified file gets a stamp (size, mtime and hash) beside it, so later starts check a
``stat`` instead of re-hashing a gigabyte.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lmteams.errors import ConfigError
from lmteams.models.catalog import CATALOG, CatalogModel, Part

CACHE_ENV = "LMTEAMS_MODEL_CACHE"
CHUNK_BYTES = 8 << 20


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "lmteams" / "models"


class ModelNotInstalled(ConfigError):
    """A catalog model whose packages are missing or broken; the message says how to install."""

    def __init__(self, model: CatalogModel, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"embedded model {model.name!r} is not installed ({reason}): {model.install_line}",
            field="model",
        )


def locate_part(model: CatalogModel, part: Part) -> Path:
    """The installed file of ``part``; ModelNotInstalled when its package is absent or broken."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotInstalled(model, f"package {part.distribution} is missing") from None
    if dist.version != part.version:
        raise ModelNotInstalled(
            model, f"{part.distribution} {dist.version} is installed, {part.version} is needed"
        )
    for file in dist.files or ():
        if str(file) == part.path:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
            break
    raise ModelNotInstalled(model, f"{part.distribution} lacks {part.path}: reinstall it")


def locate_parts(model: CatalogModel) -> list[Path]:
    return [locate_part(model, part) for part in model.parts]


@dataclass(frozen=True, slots=True)
class ModelFile:
    """Where a catalog model's file is, or will be once assembled."""

    model: CatalogModel
    path: Path | None
    installed: bool
    ready: bool
    problem: str | None = None


def model_file(model: CatalogModel, cache: Path | None = None) -> ModelFile:
    """Inspect without assembling or hashing: for listings (``lmteams models``)."""
    cache = cache_dir() if cache is None else cache
    target = cache / model.file_name
    try:
        parts = locate_parts(model)
    except ModelNotInstalled as exc:
        return ModelFile(
            model,
            target if model.assembled else None,
            installed=False,
            ready=False,
            problem=exc.reason,
        )
    if not model.assembled:
        return ModelFile(model, parts[0], installed=True, ready=True)
    ready = target.is_file() and target.stat().st_size == model.size_bytes
    return ModelFile(model, target, installed=True, ready=ready)


def ensure_model_file(model: CatalogModel, cache: Path | None = None) -> Path:
    """The verified GGUF file of ``model``, assembling it first when needed.

    Raises ModelNotInstalled when a package is missing, and ConfigError when the bytes the
    packages hold do not hash to the catalog's sha256.
    """
    cache = cache_dir() if cache is None else cache
    parts = locate_parts(model)
    if not model.assembled:
        path = parts[0]
        if not _verified(path, model, cache):
            raise _hash_error(model, f"{path} does not match", "reinstall the package")
        return path
    target = cache / model.file_name
    if _verified(target, model, cache):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the model cache {cache}: {exc}", field="model") from None
    with _lock(cache / f".{model.file_name}.lock"):
        # Another process may have finished while this one waited for the lock.
        if _verified(target, model, cache):
            return target
        _remove_partials(cache, model)
        _assemble(model, parts, target, cache)
    return target


def _assemble(model: CatalogModel, parts: list[Path], target: Path, cache: Path) -> None:
    total = sum(p.stat().st_size for p in parts)
    if total != model.size_bytes:
        raise _hash_error(
            model,
            f"its {len(parts)} parts hold {total:,} bytes, {model.size_bytes:,} expected",
            model.install_line + " --force-reinstall",
        )
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(dir=cache, prefix=f".{model.file_name}.", suffix=".partial")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise _hash_error(
                model,
                f"its parts concatenate to sha256 {digest.hexdigest()}",
                model.install_line + " --force-reinstall",
            )
        # mkstemp makes the file private; a model cache is meant to be shared and read.
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(cache)
    _write_stamp(target, model, cache)


def _hash_error(model: CatalogModel, what: str, fix: str) -> ConfigError:
    return ConfigError(
        f"embedded model {model.name!r}: {what}, not the expected sha256 {model.sha256}; {fix}",
        field="model",
    )


def _stamp_path(model: CatalogModel, cache: Path) -> Path:
    return cache / f"{model.file_name}.verified.json"


def _stat_record(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _verified(path: Path, model: CatalogModel, cache: Path) -> bool:
    """True when ``path`` holds the model's bytes: by its stamp, else by hashing it."""
    try:
        if path.stat().st_size != model.size_bytes:
            return False
    except OSError:
        return False
    try:
        stamp = json.loads(_stamp_path(model, cache).read_text(encoding="utf-8"))
        if stamp == _stat_record(path, model.sha256):
            return True
    except (OSError, ValueError):
        pass
    if _sha256(path) != model.sha256:
        return False
    _write_stamp(path, model, cache)
    return True


def _write_stamp(path: Path, model: CatalogModel, cache: Path) -> None:
    # A stamp only saves time: a cache folder that cannot be written means hashing each start.
    with contextlib.suppress(OSError):
        cache.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=cache, prefix=".stamp.", suffix=".partial")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(_stat_record(path, model.sha256), out)
        os.replace(temp, _stamp_path(model, cache))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_partials(cache: Path, model: CatalogModel) -> None:
    """Temporary files left by a process that died mid-assembly (only lock holders write)."""
    for stale in cache.glob(f".{model.file_name}.*.partial"):
        stale.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes (threads too: one open file each)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the temp-file-and-rename protocol alone keeps it correct
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def known_models(cache: Path | None = None) -> list[ModelFile]:
    """Every catalog model, installed or not, in catalog order (for ``lmteams models``)."""
    cache = cache_dir() if cache is None else cache
    return [model_file(model, cache) for model in CATALOG.values()]
