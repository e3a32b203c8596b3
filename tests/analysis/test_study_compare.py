"""`study compare`'s library: our runs' medians beside the study's, matched by project."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.analysis.study_compare import compare, comparison_plot, match, study_cells
from lmteams.errors import ConfigError
from lmteams.scheduling.project import builtin_project, load_project
from lmteams.state.store import EventStore

from ..scheduling.test_graph import PAPER, STUDY
from .study_runs import CONDITION, scripted_run, study_project, write_study


def test_study_cells_are_the_studys_medians(tmp_path: Path) -> None:
    cells = study_cells(write_study(tmp_path))
    two = cells[("decentralized", CONDITION, 2)]
    assert two["speedup"] == pytest.approx(2.25)
    assert two["success"] == pytest.approx(2 / 3) and two["runs"] == 3
    assert two["tokens"] == 2200 and two["claims_blocked"] == 6
    # n = 1: a 110/100 and 110/120, b 200/200: the median is b's 1.0
    assert cells[("decentralized", CONDITION, 1)]["speedup"] == pytest.approx(1.0)


def test_the_real_study_data_has_every_condition() -> None:
    data = PAPER.parent / "data"
    cells = study_cells(data)
    for stem in (p.stem for p in STUDY):
        for mode in ("decentralized", "preassign_nolead"):
            assert (mode, stem, 1) in cells and (mode, stem, 5) in cells
    assert sum(c["runs"] for c in cells.values()) == 1413


def test_a_project_matches_its_study_condition() -> None:
    study = {p.stem: load_project(p) for p in STUDY}
    for stem, project in study.items():
        assert match(project, study) == stem
    assert match(load_project(builtin_project("tiny-math")), study) is None
    # a project that declared more edges (undeclared imports): still the study's condition
    p05 = study["svgutils_p05"]
    first, *rest = p05.tasks
    edited = p05.model_copy(
        update={
            "tasks": (
                first,
                *(t.model_copy(update={"dependencies": (*t.dependencies, first.id)}) for t in rest),
            )
        }
    )
    assert match(edited, study) == "svgutils_p05"


async def test_compare_sets_runs_beside_the_study(tmp_path: Path, store: EventStore) -> None:
    data = write_study(tmp_path)
    project = study_project()
    one = await scripted_run(store, project, "decentralized", 1)
    two = await scripted_run(store, project, "decentralized", 2)
    cut = await scripted_run(store, project, "decentralized", 2, max_rounds=2)
    tiny_math = load_project(builtin_project("tiny-math"))
    unchecked = tiny_math.model_copy(
        update={"tasks": tuple(t.model_copy(update={"check": None}) for t in tiny_math.tasks)}
    )  # checks run real processes; these runs are in virtual time
    tiny = await scripted_run(store, unchecked, "preassign", 2)
    assert cut.status == "unfinished"
    assert tiny.status == "done", tiny
    comparison = compare(store, [one.run_id, two.run_id, cut.run_id, tiny.run_id], data)
    rows = {(r.condition, r.topology, r.workers): r for r in comparison.rows}
    row2 = rows[(CONDITION, "decentralized", 2)]
    assert (row2.runs, row2.kept) == (2, 1)
    # n = 1: a claim round then a completing round per task (40 s); n = 2: 21 s
    assert row2.speedup == pytest.approx(40 / 21)
    assert row2.study_speedup == pytest.approx(2.25) and row2.study_runs == 3
    assert row2.claims_refused is not None and row2.study_claims_blocked == 6
    assert rows[(CONDITION, "decentralized", 1)].speedup == pytest.approx(1.0)
    other = rows[("tiny-math", "preassign", 2)]
    assert other.study_speedup is None and other.speedup is None  # no n = 1 run of it
    assert comparison.excluded == 1
    by_id = {r.run_id: r for r in comparison.runs}
    assert by_id[cut.run_id].speedup is None and by_id[two.run_id].harness == "rounds"
    png = comparison_plot(comparison, tmp_path / "out" / "compare.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_bad_inputs_are_one_clear_error(tmp_path: Path, store: EventStore) -> None:
    data = write_study(tmp_path)
    run = await scripted_run(store, study_project(), "preassign", 1)
    with pytest.raises(ConfigError, match="no such folder") as missing:
        compare(store, [run.run_id], tmp_path / "nowhere")
    assert "nowhere" in str(missing.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no runs.parquet"):
        compare(store, [run.run_id], empty)
    with pytest.raises(ConfigError, match="no such folder .the study's task files"):
        compare(store, [run.run_id], data, tmp_path / "notasks")
    ask = store.new_run("ask", params={"question": "2 + 2?"})
    with pytest.raises(ConfigError, match=f"run {ask} is a 'ask' run, not a project run"):
        compare(store, [run.run_id, ask], data)
    with pytest.raises(ConfigError, match="name at least one run"):
        compare(store, [], data)
    broken = write_study(tmp_path / "broken", drop="claims_blocked")
    with pytest.raises(ConfigError, match="missing column.s. claims_blocked"):
        compare(store, [run.run_id], broken)


async def test_a_run_named_twice_counts_once(tmp_path: Path, store: EventStore) -> None:
    data = write_study(tmp_path)
    run = await scripted_run(store, study_project(), "preassign", 1)
    comparison = compare(store, [run.run_id, run.run_id[:-2]], data)
    assert [r.runs for r in comparison.rows] == [1] and len(comparison.runs) == 1
