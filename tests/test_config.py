from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.config import load_team, parse_team
from lmteams.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    return path


GOOD = """
name: t
models:
  m: {backend: scripted, default: "Answer: 1"}
defaults: {model: m, temperature: 0.1}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic, temperature: 0.9, max_concurrent: 2}
"""


def test_loads_a_valid_team(tmp_path: Path) -> None:
    team = load_team(write(tmp_path, GOOD))
    assert team.node_names == ("a", "b")
    assert team.model_of(team.node("a")) == "m"
    assert team.sampling(team.node("a")).temperature == 0.1
    assert team.sampling(team.node("b")).temperature == 0.9
    assert team.max_concurrent(team.node("b")) == 2


def test_default_team_ships_three_roles_on_the_embedded_model() -> None:
    team = load_team(None)
    assert len(team.nodes) == 3
    assert len({n.role for n in team.nodes}) == 3
    assert {team.models[team.model_of(n)].backend for n in team.nodes} == {"embedded"}


def expect_error(tmp_path: Path, text: str, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_team(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "team.yaml"))
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_team(tmp_path / "nope.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_team(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_team(tmp_path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    expect_error(tmp_path, "nodes:\n  - name: a\n   role: [x\n", "invalid YAML", "line ")


def test_not_a_mapping(tmp_path: Path) -> None:
    expect_error(tmp_path, "- a\n- b\n", "must be a mapping")


def test_unknown_model(tmp_path: Path) -> None:
    error = expect_error(
        tmp_path,
        "models: {m: {backend: scripted}}\nnodes: [{name: a, model: zz}]\n",
        "unknown model 'zz'",
    )
    assert error.field == "nodes[0].model"


def test_duplicate_node_names(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: scripted}}\nnodes: [{name: a}, {name: a}]\n",
        "nodes[1].name",
        "duplicate node name 'a'",
    )


def test_missing_field(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: scripted}}\nnodes: [{role: x}]\n",
        "nodes[0].name",
        "required field is missing",
    )


def test_missing_nodes(tmp_path: Path) -> None:
    expect_error(tmp_path, "models: {m: {backend: scripted}}\n", "nodes", "required")


def test_out_of_range_number(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: scripted}}\nnodes: [{name: a, temperature: 7}]\n",
        "nodes[0].temperature",
        "less than or equal to 2",
    )


def test_unknown_field(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: scripted}}\nnodes: [{name: a, colour: red}]\n",
        "nodes[0].colour",
        "unknown field",
    )


def test_unknown_backend(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: telepathy}}\nnodes: [{name: a}]\n",
        "models.m.backend",
        "unknown backend 'telepathy'",
    )


def test_backend_option_is_validated(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: embedded, n_parallel: 0}}\nnodes: [{name: a}]\n",
        "models.m.n_parallel",
        "greater than or equal to 1",
    )


def test_unknown_backend_option(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "models: {m: {backend: openai, base_url: 'http://x', temprature: 1}}\nnodes: [{name: a}]\n",
        "models.m.temprature",
    )


def test_bad_node_name(tmp_path: Path) -> None:
    expect_error(
        tmp_path, "models: {m: {backend: scripted}}\nnodes: [{name: 'a b'}]\n", "nodes[0].name"
    )


def test_resized_repeats_nodes_with_new_seeds() -> None:
    team = parse_team(
        {
            "models": {"m": {"backend": "scripted"}},
            "nodes": [{"name": "a", "seed": 1}, {"name": "b"}],
        },
        source="t",
    )
    assert team.resized(1).node_names == ("a",)
    big = team.resized(5)
    assert big.node_names == ("a", "b", "a-2", "b-2", "a-3")
    assert big.node("a-2").seed != big.node("a").seed
    with pytest.raises(ConfigError):
        team.resized(0)


def test_node_lookup_follows_copies_of_the_team() -> None:
    team = parse_team(
        {"models": {"m": {"backend": "scripted"}}, "nodes": [{"name": "a"}, {"name": "b"}]},
        source="t",
    )
    assert team.node("b").name == "b"  # builds the lookup before copying
    assert team.resized(3).node("a-2").name == "a-2"
    with pytest.raises(ConfigError, match="no node named 'b'"):
        team.resized(1).node("b")


def test_equal_teams_stay_equal_after_a_node_lookup(tmp_path: Path) -> None:
    # The node lookup cache is private state; it must not leak into equality.
    warm = load_team(write(tmp_path, GOOD))
    cold = load_team(write(tmp_path, GOOD))
    warm.node(warm.nodes[0].name)
    assert warm == cold
    assert warm != cold.model_copy(update={"name": "other"})


@pytest.mark.parametrize(
    ("error", "kwargs", "expected"),
    [
        (ConfigError("not a file", field="path"), {}, "models.coder.path: not a file"),
        (ConfigError("bad", source="t.yaml"), {}, "t.yaml: models.coder: bad"),
        (ConfigError("bad"), {"missing": "backend"}, "models.coder.backend: bad"),
        (ConfigError("bad", field="x"), {"source": "team.yaml"}, "team.yaml: models.coder.x: bad"),
    ],
)
def test_a_models_error_names_the_model_it_is_about(
    error: ConfigError, kwargs: dict[str, str], expected: str
) -> None:
    placed = error.under("models.coder", **kwargs)
    assert str(placed) == expected
    assert placed.problem == error.problem
