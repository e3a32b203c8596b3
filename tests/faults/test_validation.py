from __future__ import annotations

from lmteams.faults.config import ValidationConfig
from lmteams.faults.validation import OutputRules, feedback_message, problem, runaway_repetition


def test_empty_and_whitespace_replies_fail() -> None:
    rules = OutputRules()
    assert problem("", rules) == "the reply is empty"
    assert problem("  \n ", rules) == "the reply is empty"
    assert problem("Answer: 4", rules) is None


def test_runaway_repetition_is_detected() -> None:
    assert runaway_repetition("the " * 60)
    assert runaway_repetition("Answer: 4\n" + "I think so. " * 30)
    assert runaway_repetition("x" * 200)
    assert runaway_repetition("\n".join(["step again"] * 8))
    natural = (
        "First add the units: 7 plus 5 is 12, write 2 and carry 1. Then the tens: 1 plus 2 "
        "plus 1 is 4. So the sum is 42. Answer: 42"
    )
    assert runaway_repetition(natural) is None
    assert runaway_repetition("no no no") is None  # too short to judge
    assert runaway_repetition("}\n}\n}\n}\n}\n}\n}") is None  # code closing braces


def test_noise_is_rejected_but_json_and_code_pass() -> None:
    rules = OutputRules()
    assert problem("~>[&]<!{%^>*[@~]~<}>&[&}!>>^&<%}}[[&>*[@^}", rules) is not None
    assert problem('{"task": "t1", "node": "a", "deps": [1, 2]}', rules) is None
    assert problem("def f(x):\n    return {k: v for k, v in x.items()}", rules) is None
    assert problem("!!!", rules) is None  # too short to judge


def test_format_and_schema_checks() -> None:
    assert problem("hello", OutputRules(regex=r"Answer:\s*\S+")) is not None
    assert problem("Answer: 5", OutputRules(regex=r"Answer:\s*\S+")) is None
    json_rules = OutputRules(json_output=True)
    assert "not valid JSON" in (problem("{oops", json_rules) or "")
    assert problem('```json\n{"a": 1}\n```', json_rules) is None
    schema = {
        "type": "object",
        "properties": {"task": {"type": "string"}, "node": {"enum": ["a", "b"]}},
        "required": ["task", "node"],
    }
    schema_rules = OutputRules(json_schema=schema)
    assert problem('{"task": "t1", "node": "a"}', schema_rules) is None
    found = problem('{"task": "t1", "node": "z"}', schema_rules)
    assert found is not None and "node" in found
    assert "required" in (problem('{"task": "t1"}', schema_rules) or "")
    bad_schema = OutputRules(json_schema={"type": "nonsense"})
    assert "schema itself" in (problem("{}", bad_schema) or "")


def test_custom_check_and_inactive_rules() -> None:
    rules = OutputRules(
        non_empty=False, repetition=False, noise=False, check=lambda t: "no" if "x" in t else None
    )
    assert problem("x", rules) == "no" and problem("y", rules) is None
    assert not OutputRules(non_empty=False, repetition=False, noise=False).active


def test_rules_from_config_and_feedback() -> None:
    config = ValidationConfig.model_validate({"json": True, "max_retries": 2})
    rules = OutputRules.from_config(config)
    assert rules.json_output and rules.max_retries == 2
    message = feedback_message("the reply is not valid JSON", rules)
    assert "rejected: the reply is not valid JSON" in message and "valid JSON only" in message
    schema_message = feedback_message("x", OutputRules(json_schema={"type": "object"}))
    assert '{"type": "object"}' in schema_message
