from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.sim.calibrate import calibrate
from lmteams.sim.study import README_TABLE, amdahl_of, error, observed_speedups, replay

PAPER = Path(__file__).resolve().parents[3] / "shared" / "paper"
pytestmark = pytest.mark.skipif(
    not (PAPER / "data" / "runs.parquet").exists(), reason="study data not present"
)


def test_observed_medians_reproduce_the_readme_table() -> None:
    observed = observed_speedups(PAPER / "data" / "runs.parquet")
    for (mode, p), row in README_TABLE.items():
        for n, value in zip((2, 3, 4, 5), row, strict=True):
            assert observed[(mode, p, n)] == pytest.approx(value, abs=0.005)


def test_a_quick_replay_predicts_preassigned_speedups() -> None:
    calibration = calibrate(PAPER / "data" / "events.parquet")
    predicted = replay(
        calibration, PAPER / "tasks", mode="preassign_nolead", topology="preassign", reps=4
    )
    assert set(predicted) == {
        ("preassign_nolead", p, n) for p in ("p09", "p05", "p02") for n in range(1, 6)
    }
    # more parallel graphs gain more, and no cell is wildly off even with four repetitions
    assert predicted[("preassign_nolead", "p09", 5)] > predicted[("preassign_nolead", "p02", 5)]
    observed = observed_speedups(PAPER / "data" / "runs.parquet")
    errors = [abs(error(predicted[c], observed[c])) for c in predicted if c[2] > 1]
    assert sorted(errors)[len(errors) // 2] < 0.3


def test_helpers() -> None:
    assert amdahl_of("p09", 2) == pytest.approx(1 / (0.1 + 0.45))
    assert error(1.1, 1.0) == pytest.approx(0.1)
