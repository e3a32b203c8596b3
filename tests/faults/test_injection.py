from __future__ import annotations

import random

import pytest

from lmteams.errors import ConfigError
from lmteams.faults.config import FaultRule, FaultsSpec
from lmteams.faults.injection.rules import (
    Action,
    NodeFaults,
    apply_inject,
    garbage,
    parse_inject,
    rule_for,
    wrong_answer,
)
from lmteams.faults.validation import OutputRules, problem
from lmteams.testing import scripted_team


def test_parse_every_effect() -> None:
    spec = parse_inject(
        [
            "n1:crash=3;n2:slow=10x,error=20%/rate_limited,retry_after=2",
            "seed=7",
            "role:critic:garbage=0.5,byzantine=1,wrong=Answer 7",
            "*:hang=0",
        ]
    )
    assert spec.seed == 7
    assert spec.nodes["n1"] == FaultRule(crash_after=3)
    n2 = spec.nodes["n2"]
    assert n2.slow == 10 and n2.error_rate == 0.2 and n2.error == "rate_limited"
    assert n2.retry_after_s == 2
    critic = spec.nodes["role:critic"]
    assert critic.garbage_rate == 0.5 and critic.byzantine_rate == 1
    assert critic.wrong_answer == "Answer 7"
    assert spec.nodes["*"].crash_mode == "hang" and spec.nodes["*"].crash_after == 0


def test_repeated_targets_merge() -> None:
    spec = parse_inject(["n1:crash=3", "n1:slow=2"])
    assert spec.nodes["n1"] == FaultRule(crash_after=3, slow=2)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("n1", "expected NODE:EFFECT=VALUE"),
        ("n1:", "no effect given"),
        ("n1:crash", "needs a value"),
        ("n1:explode=1", "unknown effect 'explode'"),
        ("n1:slow=fast", "slow=fast: not a number"),
        ("n1:error=0.5/teapot", "unknown error kind 'teapot'"),
        ("n1:error=2", "error_rate"),
        ("n1:slow=0.5", "slow"),
        ("role::crash=1", "expected NODE:EFFECT=VALUE"),
    ],
)
def test_bad_inject_values_are_one_clear_error(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_inject([value])
    assert fragment in str(info.value) and str(info.value).startswith("--inject: ")


def test_apply_inject_checks_nodes_and_roles() -> None:
    spec, _ = scripted_team(3, roles=["solver", "critic"])
    injected = apply_inject(spec, ["n1:crash=1", "role:critic:slow=3"])
    assert injected.faults is not None and set(injected.faults.nodes) == {"n1", "role:critic"}
    assert apply_inject(spec, []) is spec
    with pytest.raises(ConfigError, match=r"--inject: n9: unknown node 'n9'; nodes: n0, n1, n2"):
        apply_inject(spec, ["n9:crash=1"])
    with pytest.raises(ConfigError, match="no node has role 'judge'"):
        apply_inject(spec, ["role:judge:crash=1"])


def test_rule_precedence_name_then_role_then_star() -> None:
    faults = FaultsSpec(
        nodes={
            "*": FaultRule(slow=2),
            "role:critic": FaultRule(slow=3),
            "n1": FaultRule(slow=4),
        }
    )
    assert rule_for(faults, "n1", "critic") == FaultRule(slow=4)
    assert rule_for(faults, "n2", "critic") == FaultRule(slow=3)
    assert rule_for(faults, "n3", "solver") == FaultRule(slow=2)
    assert rule_for(FaultsSpec(), "n3", "solver") is None


def test_crash_after_k_finished_calls() -> None:
    node = NodeFaults("n1", FaultRule(crash_after=2), seed=0)
    assert node.on_start() is Action.PROCEED and not node.on_finish()
    assert node.on_start() is Action.PROCEED and node.on_finish()  # crashes now
    assert node.on_start() is Action.CRASHED and node.crashed
    assert NodeFaults("n1", FaultRule(crash_after=0), seed=0).on_start() is Action.CRASHED


def test_error_rate_is_seeded_per_node() -> None:
    def errors(name: str, seed: int) -> list[Action]:
        node = NodeFaults(name, FaultRule(error_rate=0.3), seed=seed)
        return [node.on_start() for _ in range(200)]

    sample = errors("n1", 1)
    assert sample == errors("n1", 1)
    assert sample != errors("n2", 1)
    assert 30 < sample.count(Action.ERROR) < 90


def test_garbage_always_fails_validation() -> None:
    rng = random.Random(3)
    rules = OutputRules(json_schema={"type": "object", "required": ["answer"]})
    for _ in range(40):
        assert problem(garbage(rng), rules) is not None


def test_wrong_answers_are_plausible_and_wrong() -> None:
    rng = random.Random(0)
    wrong = wrong_answer("7 + 5 = 12.\nAnswer: 12", rng)
    assert wrong.startswith("7 + 5 = 12.\nAnswer: ") and wrong != "7 + 5 = 12.\nAnswer: 12"
    assert wrong_answer("Answer: Yes", rng) == "Answer: No"
    letter = wrong_answer("The answer is B.", rng)
    assert letter != "The answer is B." and letter.startswith("The answer is ")
    assert wrong_answer("Answer: 3.5", rng) != "Answer: 3.5"
    assert wrong_answer("Answer: Paris", rng) == "Answer: not Paris"
    assert wrong_answer("Paris", rng).startswith("Answer: not")
    assert wrong_answer("steps...\nAnswer: 4", rng, "17") == "steps...\nAnswer: 17"
    assert wrong_answer("no answer line", rng, "17") == "17"
