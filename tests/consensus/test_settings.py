from __future__ import annotations

import pytest

from lmteams.config import parse_team
from lmteams.consensus.catalog import STRATEGIES, check_strategy, parse_strategies
from lmteams.consensus.settings import ConsensusSpec
from lmteams.errors import ConfigError

TEAM = {"models": {"m": {"backend": "scripted"}}, "nodes": [{"name": "a"}, {"name": "b"}]}


def test_catalog() -> None:
    assert parse_strategies("majority, judge,majority,,debate") == ["majority", "judge", "debate"]
    assert check_strategy("quorum") == "quorum"
    assert STRATEGIES["judge"].extra_calls and not STRATEGIES["majority"].extra_calls
    assert STRATEGIES["program"].extra_calls and STRATEGIES["gentest"].extra_calls
    assert not STRATEGIES["routed"].extra_calls
    with pytest.raises(ConfigError, match="--consensus: unknown consensus strategy 'vote'"):
        parse_strategies("majority,vote")
    with pytest.raises(ConfigError, match="at least one"):
        parse_strategies(" ")


def test_team_file_section_is_validated_with_the_team() -> None:
    team = parse_team({**TEAM, "consensus": {"strategy": "judge", "judge": "b"}}, source="t.yaml")
    assert team.consensus.strategy == "judge" and team.consensus.judge == "b"
    assert parse_team(TEAM, source="t.yaml").consensus == ConsensusSpec()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"strategy": "vote"}, "t.yaml: consensus.strategy: unknown strategy 'vote'"),
        ({"judge": "z"}, "t.yaml: consensus.judge: unknown node 'z'; team has: a, b"),
        ({"tiers": ["big"]}, "t.yaml: consensus.tiers: unknown model 'big'"),
        ({"similarity": "embedding"}, "t.yaml: consensus.embedding_model: similarity: embedding"),
        ({"rounds": -1}, "t.yaml: consensus.rounds"),
        ({"colour": "red"}, "t.yaml: consensus.colour: unknown field"),
        ({"coders": ["a", "z"]}, "t.yaml: consensus.coders: unknown node 'z'; team has: a, b"),
        ({"program_retries": 9}, "t.yaml: consensus.program_retries"),
        ({"run_time_limit_s": 0}, "t.yaml: consensus.run_time_limit_s"),
        ({"candidates": 0}, "t.yaml: consensus.candidates"),
        ({"test_inputs": -1}, "t.yaml: consensus.test_inputs"),
        ({"judge_contradiction": "maybe"}, "t.yaml: consensus.judge_contradiction"),
        ({"route_width": 0}, "t.yaml: consensus.route_width"),
        ({"route_min_labels": -1}, "t.yaml: consensus.route_min_labels"),
        ({"route_margin": 2}, "t.yaml: consensus.route_margin"),
        ({"answer_format": "xml"}, "t.yaml: consensus.answer_format: Input should be 'text'"),
        (
            {"answer_format": "json", "answer_schema": {"type": "string"}},
            "t.yaml: consensus.answer_schema: must be an object schema",
        ),
        (
            {"answer_format": "json", "answer_schema": {"type": "object", "properties": {}}},
            "t.yaml: consensus.answer_schema: must have an `answer` property",
        ),
        (
            {"answer_schema": {"type": "object", "properties": {"answer": {}}}},
            "t.yaml: consensus: answer_schema needs answer_format: json",
        ),
    ],
)
def test_bad_sections_name_file_and_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_team({**TEAM, "consensus": section}, source="t.yaml")
    assert str(info.value).startswith(message)


def test_flags_override_the_file() -> None:
    base = ConsensusSpec(rounds=3, judge="a")
    merged = base.with_overrides({"rounds": 1, "judge": None, "faults": 2})
    assert (merged.rounds, merged.judge, merged.faults) == (1, "a", 2)
    assert base.with_overrides({}) is base
    with pytest.raises(ConfigError, match="--stop-confidence"):
        base.with_overrides({"stop_confidence": 1.5})
    with pytest.raises(ConfigError, match="--similarity"):
        base.with_overrides({"similarity": "fuzzy"})
