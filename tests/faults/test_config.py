"""The resilience:, budget: and faults: sections of a team file."""

from __future__ import annotations

from typing import Any

import pytest

from lmteams.config import parse_team
from lmteams.errors import ConfigError
from lmteams.faults.config import ResilienceSpec


def team(**sections: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"backend": "scripted"}, "r": {"backend": "scripted"}},
        "nodes": [{"name": "a", "role": "solver"}, {"name": "b", "role": "critic"}],
        **sections,
    }


def test_sections_parse_with_defaults() -> None:
    spec = parse_team(
        team(
            resilience={
                "retries": {"max_attempts": 5},
                "hedging": {"enabled": True},
                "rate_limits": {"r": {"requests_per_minute": 30}},
                "validation": {"json": True},
            },
            budget={"max_tokens": 1000, "max_cost": 0.5},
            faults={"seed": 3, "nodes": {"a": {"crash_after": 2}, "role:critic": {"slow": 5}}},
        ),
        source="team.yaml",
    )
    assert spec.resilience is not None and spec.resilience.retries.max_attempts == 5
    assert spec.resilience.breaker.enabled and spec.resilience.validation.json_output
    assert spec.budget is not None and spec.budget.max_cost == 0.5
    assert spec.faults is not None and spec.faults.nodes["a"].crash_after == 2
    again = parse_team(spec.model_dump(mode="json", exclude_none=True), source="log")
    assert again == spec  # the logged team re-parses to the same spec (resume relies on it)


def test_sections_are_optional() -> None:
    spec = parse_team(team(), source="t")
    assert spec.resilience is None and spec.budget is None and spec.faults is None


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"faults": {"nodes": {"zz": {"crash_after": 1}}}},
            "team.yaml: faults.nodes.zz: unknown node 'zz'; nodes: a, b",
        ),
        (
            {"faults": {"nodes": {"role:judge": {"slow": 2}}}},
            "no node has role 'judge'",
        ),
        (
            {"faults": {"nodes": {"a": {"crash_after": -1}}}},
            "team.yaml: faults.nodes.a.crash_after: Input should be greater than or equal to 0",
        ),
        ({"faults": {"nodes": {"a": {"explode": 1}}}}, "faults.nodes.a.explode: unknown field"),
        (
            {"resilience": {"rate_limits": {"gpt": {"requests_per_minute": 1}}}},
            "team.yaml: resilience.rate_limits.gpt: unknown model 'gpt'; defined: m, r",
        ),
        ({"resilience": {"retry": {}}}, "team.yaml: resilience.retry: unknown field"),
        (
            {"resilience": {"health": {"suspect_after": 3, "dead_after": 2}}},
            "dead_after: must be at least suspect_after",
        ),
        ({"budget": {}}, "set max_tokens, max_cost or both"),
        ({"budget": {"max_tokens": 0}}, "team.yaml: budget.max_tokens: Input should be greater"),
    ],
)
def test_bad_sections_are_one_clear_error(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_team(team(**sections), source="team.yaml")
    assert message in str(info.value)


def test_off_switches_every_reaction_off() -> None:
    off = ResilienceSpec.off()
    assert off.retries.max_attempts == 1 and not off.breaker.enabled
    assert not off.reroute.enabled and not off.hedging.enabled and not off.timeouts.adaptive
