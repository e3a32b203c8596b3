from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.sim.calibration import (
    Calibration,
    LatencyFit,
    ModelCalibration,
    TokenFit,
    save_calibration,
)
from lmteams.sim.latency import (
    Constant,
    Empirical,
    LogNormal,
    parse_dist,
    parse_latency,
    parse_tokens,
)


def test_distributions_map_draws_to_values() -> None:
    assert Constant(2.0).sample(3.0, 0.9) == 2.0
    lognormal = LogNormal(8.0, 0.5)
    assert lognormal.sample(0.0, 0.5) == 8.0
    assert lognormal.sample(1.0, 0.5) == pytest.approx(8.0 * math.exp(0.5))
    assert lognormal.mean > lognormal.median
    empirical = Empirical((1.0, 2.0, 10.0))
    assert [empirical.sample(0, u) for u in (0.0, 0.5, 0.99)] == [1.0, 2.0, 10.0]
    assert empirical.median == 2.0


@given(st.floats(0.01, 100), st.floats(0, 3), st.floats(-4, 4), st.floats(0, 0.999))
def test_samples_are_never_negative(median: float, sigma: float, z: float, u: float) -> None:
    assert LogNormal(median, sigma).sample(z, u) >= 0


def test_parse_distributions() -> None:
    assert parse_dist("2") == Constant(2.0)
    assert parse_dist("constant:500ms") == Constant(0.5)
    assert parse_dist("lognormal:8,0.5") == LogNormal(8.0, 0.5)
    assert parse_dist("lognormal(20,0.5)") == LogNormal(20.0, 0.5)  # the README's form
    assert parse_dist("empirical:3,1,2") == Empirical((1.0, 2.0, 3.0))


def test_empirical_from_a_file(tmp_path: Path) -> None:
    lines = tmp_path / "lat.txt"
    lines.write_text("# seconds\n1.5\n2.5\n0.5\n")
    listed = tmp_path / "lat.json"
    listed.write_text(json.dumps([4, 5]))
    assert parse_dist(f"empirical:@{lines}") == Empirical((0.5, 1.5, 2.5))
    assert parse_dist(f"empirical:@{listed}") == Empirical((4.0, 5.0))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gamma:1,2", "unknown distribution 'gamma'"),
        ("lognormal:8", "lognormal needs MEDIAN,SIGMA"),
        ("lognormal:0,1", "median must be > 0"),
        ("lognormal:1,9", "implausibly large"),
        ("constant:-1", "must be a finite number >= 0"),
        ("constant:abc", "'abc' is not a number"),
        ("bogus", "'bogus' is neither a number nor a distribution such as constant:2"),
        ("lognormal", "'lognormal' is neither a number nor a distribution"),
        ("8;claim=fast", "'fast' is neither a number nor a distribution"),
        ("empirical:", "no values"),
        ("empirical:@/no/such/file", "file not found"),
        ("calibrated:/no/such.json", "calibration file not found"),
        ("", "empty latency spec"),
    ],
)
def test_bad_latency_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_latency(spec)


def test_overrides_by_node_model_role_and_kind() -> None:
    model = parse_latency(
        "lognormal:8,0.5;claim=constant:1;n3=constant:40;model:gpt=constant:3;"
        "role:critic.task=constant:9;n4.lead=constant:7"
    )
    plain = model.for_node("n0")
    assert plain.task == LogNormal(8.0, 0.5) and plain.claim == Constant(1.0)
    assert model.for_node("n3").task == Constant(40.0) == model.for_node("n3").claim
    gpt = model.for_node("n1", model="gpt")
    assert gpt.task == Constant(3.0)
    critic = model.for_node("n2", model="gpt", role="critic")
    assert critic.task == Constant(3.0)  # the model's override comes after the role's
    assert model.for_node("n2", role="critic").task == Constant(9.0)
    assert model.for_node("n4").lead == Constant(7.0)
    # a node override beats its model's
    assert model.for_node("n3", model="gpt").task == Constant(40.0)


def calibration(tmp_path: Path) -> Path:
    fit = ModelCalibration(
        calls=10,
        latency=LatencyFit(base_s=2.0, per_task_s=3.0, sigma=0.4),
        tokens=TokenFit(prompt_per_call=5000, completion_per_call=50, completion_per_task=400),
        claim_refusal=0.25,
    )
    other = fit.model_copy(update={"latency": LatencyFit(base_s=1.0, per_task_s=1.0, sigma=0.2)})
    data = Calibration(
        kind="study", source="test", models={"big-model": fit, "small-model": other}, pooled=fit
    )
    return save_calibration(data, tmp_path / "cal.json")


def test_calibrated_latency(tmp_path: Path) -> None:
    path = calibration(tmp_path)
    one = parse_latency(f"calibrated:{path}:small")
    node = one.for_node("n0")
    assert node.task == LogNormal(2.0, 0.2) and node.claim == LogNormal(1.0, 0.2)
    assert node.batch is not None and node.call(3, 0.0, 0.5) == pytest.approx(4.0)
    each = parse_latency(f"calibrated:{path}")
    assert each.for_node("n0", model="big-model").task == LogNormal(5.0, 0.4)
    assert each.for_node("n0", model="small-model").task == LogNormal(2.0, 0.2)
    assert each.for_node("n0", model="unknown").task == LogNormal(5.0, 0.4)  # pooled
    assert each.calibration_for("n0", model="big-model") is not None
    with pytest.raises(ConfigError, match="no model 'nope' in the calibration"):
        parse_latency(f"calibrated:{path}:nope")


def test_a_plain_override_drops_the_calibrated_batch_fit(tmp_path: Path) -> None:
    path = calibration(tmp_path)
    model = parse_latency(f"calibrated:{path}:big;n1=constant:2")
    assert model.for_node("n0").batch is not None
    node = model.for_node("n1")
    assert node.batch is None and node.call(3, 0.0, 0.5) == 6.0  # three tasks of 2 s


def test_tokens(tmp_path: Path) -> None:
    default = parse_tokens(None).for_node("n0")
    assert default.sample("task", 0, 0.5) == (1000, 300)
    model = parse_tokens(
        "prompt=lognormal:1200,0.1;completion=400;claim.completion=6;n2.task.prompt=9"
    )
    assert model.for_node("n0").sample("task", 0, 0.5) == (1200, 400)
    assert model.for_node("n0").sample("claim", 0, 0.5) == (1200, 6)
    assert model.for_node("n2").sample("task", 0, 0.5) == (9, 400)
    cal = parse_tokens(f"calibrated:{calibration(tmp_path)}:big").for_node("n0")
    assert cal.sample("task", 0, 0.5) == (5000, 450) and cal.per_task_completion == 400
    with pytest.raises(ConfigError, match="must end with prompt or completion"):
        parse_tokens("task.speed=3")
    with pytest.raises(ConfigError, match="expected"):
        parse_tokens("1200")
