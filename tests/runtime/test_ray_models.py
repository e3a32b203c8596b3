from __future__ import annotations

import pytest
from pydantic import SecretStr

from lmteams.config import ModelSpec, NodeSpec, TeamSpec, parse_team
from lmteams.errors import ConfigError
from lmteams.models.embedded import EmbeddedBackend, EmbeddedOptions
from lmteams.models.scripted import ScriptedBackend
from lmteams.runtime.ray.models import model_homes


def team(models: dict[str, dict[str, object]]) -> TeamSpec:
    nodes = [{"name": f"n{i}", "model": name} for i, name in enumerate(models)]
    return parse_team({"models": models, "nodes": nodes}, source="t")


def test_embedded_is_served_remote_endpoints_are_built_in_the_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LMTEAMS_OPENAI_BASE_URL", "http://10.1.2.3:8000/v1")
    monkeypatch.setenv("MY_KEY", "sk-test")
    spec = team(
        {
            "smol": {"backend": "embedded", "n_parallel": 4},
            "api": {"backend": "openai", "api_key_env": "MY_KEY"},
        }
    )
    homes = model_homes(spec, None)
    assert homes.served == {"smol": ("embedded", {"n_parallel": 4})}
    kind, options = homes.built["api"]
    # the hosts may run elsewhere: what the driver's environment says travels with them
    assert kind == "openai"
    assert options.base_url == "http://10.1.2.3:8000/v1"  # type: ignore[attr-defined]
    assert options.api_key == SecretStr("sk-test")  # type: ignore[attr-defined]
    assert "sk-test" not in repr(options)


def test_overrides_are_copied_and_an_embedded_override_is_served() -> None:
    spec = team({"a": {"backend": "scripted"}, "b": {"backend": "scripted"}})
    scripted = ScriptedBackend(lambda c: "x")
    embedded = EmbeddedBackend(EmbeddedOptions(n_parallel=2))
    homes = model_homes(spec, {"a": scripted, "b": embedded})
    assert homes.copied == {"a": scripted}
    assert homes.served["b"][0] == "embedded" and homes.served["b"][1]["n_parallel"] == 2


def test_invalid_model_settings_name_the_model_field() -> None:
    # TeamSpec alone does not check backend options (parse_team does): the runtime checks again
    spec = TeamSpec(
        models={"smol": ModelSpec(backend="embedded", n_threads=0)},
        nodes=(NodeSpec(name="n0"),),
    )
    with pytest.raises(ConfigError) as info:
        model_homes(spec, None)
    assert info.value.field == "models.smol.n_threads"
