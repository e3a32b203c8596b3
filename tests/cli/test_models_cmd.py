"""`lmteams models`: every known model, installed or not."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lmteams.cli.app import main
from lmteams.cli.models_cmd import model_row
from lmteams.models.assembly import ModelFile
from lmteams.models.catalog import CATALOG, CatalogModel, Part
from lmteams.models.embedded import use_threads
from tests.cli.test_cli import SCRIPTED_TEAM, assert_clean_error, lmteams


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


def test_ask_naming_a_missing_model_fails_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ghost = CatalogModel(
        "ghost-1b",
        "Ghost",
        "ghost.gguf",
        10,
        "0" * 64,
        "Apache-2.0",
        (Part("lmteams-ghost-part1", "1.0", "lmteams_ghost_part1/data/part01.bin"),) * 2,
        extra="ghost-1b",
    )
    monkeypatch.setitem(CATALOG, "ghost-1b", ghost)
    team = tmp_path / "team.yaml"
    team.write_text("models:\n  g: {backend: embedded, model: ghost-1b}\nnodes: [{name: a}]\n")
    monkeypatch.setattr(sys, "argv", ["lmteams", "ask", "q", "-t", str(team)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: models.g.model: embedded model 'ghost-1b' is not installed (package "
        "lmteams-ghost-part1 is missing): pip install 'lmteams[ghost-1b]'"
    )
    assert not (tmp_path / ".lmteams").exists()  # no run was opened


def test_a_bad_thread_count_in_the_environment_is_one_line(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(SCRIPTED_TEAM)
    proc = lmteams("ask", "2 + 2", "-t", str(team), cwd=tmp_path, env={"LMTEAMS_N_THREADS": "many"})
    assert proc.returncode == 2
    assert_clean_error(proc, "LMTEAMS_N_THREADS: must be a whole number from 1 to 512")


def test_the_threads_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMTEAMS_N_THREADS", "4")
    use_threads(None)
    assert os.environ["LMTEAMS_N_THREADS"] == "4"
    use_threads(1)
    assert os.environ["LMTEAMS_N_THREADS"] == "1"


def test_the_threads_flag_is_range_checked(tmp_path: Path) -> None:
    proc = lmteams("ask", "2 + 2", "--threads", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--threads" in proc.stderr
