"""`lmteams models`: every known model, installed or not."""

from __future__ import annotations

import json
from pathlib import Path

from lmteams.cli.models_cmd import model_row
from lmteams.models.assembly import ModelFile
from lmteams.models.catalog import CATALOG
from tests.cli.test_cli import lmteams


def test_models_json_lists_every_model_with_size_licence_and_path(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = lmteams("models", "--json", cwd=tmp_path, env={"LMTEAMS_MODEL_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["cache"] == str(cache)
    rows = {row["name"]: row for row in data["models"]}
    assert list(rows) == list(CATALOG)
    smol = rows["smollm2-135m"]
    assert smol["default"] and smol["installed"] and smol["path"].endswith(".gguf")
    assert smol["size_bytes"] == 98_362_432 and smol["licence"] == "Apache-2.0"
    qwen = rows["qwen2.5-coder-1.5b"]
    # A chunked model lives in the cache once assembled; listing it never assembles it.
    assert qwen["path"] == str(cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert not qwen["assembled"] and not cache.exists()


def test_models_table(tmp_path: Path) -> None:
    proc = lmteams("models", cwd=tmp_path, env={"LMTEAMS_MODEL_CACHE": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "smollm2-135m (default)" in proc.stdout and "Apache-2.0" in proc.stdout
    assert "qwen2.5-coder-0.5b" in proc.stdout and "491 MB" in proc.stdout


def test_a_missing_model_shows_its_install_line() -> None:
    model = CATALOG["qwen2.5-coder-1.5b"]
    row = model_row(ModelFile(model, None, installed=False, ready=False, problem="gone"))
    assert row.install == "pip install 'lmteams[qwen-1.5b]'" and row.problem == "gone"
    assert not row.installed and row.path is None
