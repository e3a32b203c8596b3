"""`lmteams ask --runtime ray`, run as a user runs it: a subprocess, its output, its exit code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import SCRIPTED_TEAM, assert_clean_error, lmteams
from tests.conftest import loopback_only
from tests.runtime.conftest import SKIP_REASON

needs_loopback = pytest.mark.skipif(not loopback_only(), reason=SKIP_REASON)


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(SCRIPTED_TEAM)
    return path


def ray_processes_started_by(pid: int) -> list[str]:
    """Live processes of the Ray session that process ``pid`` started (Ray names it after it)."""
    session = re.compile(rf"session_[0-9_-]+_{pid}\b")
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if session.search(cmdline):
            found.append(cmdline[:80])
    return found


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--runtime", "k8s"], ["--runtime: unknown runtime 'k8s'"]),
        (["--ray-address", "auto"], ["--ray-address: a Ray address needs --runtime ray"]),
        (["--runtime", "ray", "--ray-address", "head"], ["--ray-address: 'head' is not an"]),
        (
            ["--runtime", "ray", "--ray-address", "127.0.0.1:1"],
            ["--ray-address: no Ray cluster answers at 127.0.0.1:1"],
        ),
    ],
)
def test_bad_runtime_options_are_one_line_errors(
    tmp_path: Path, team_file: Path, args: list[str], fragments: list[str]
) -> None:
    proc = lmteams("ask", "What is 2 + 2?", "-t", str(team_file), *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, *fragments)


def test_bad_ray_section_is_reported_before_ray_starts(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(SCRIPTED_TEAM + "ray:\n  roles:\n    judge: {actors_per_machine: 1}\n")
    proc = lmteams("ask", "q", "-t", str(path), "--runtime", "ray", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "ray.roles.judge: no node has role 'judge'")


@needs_loopback
@pytest.mark.ray
def test_ask_on_a_private_local_cluster_stopped_afterwards(tmp_path: Path, team_file: Path) -> None:
    args = ["ask", "What is 2 + 2?", "-t", str(team_file), "--runtime", "ray", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stderr.strip() == ""  # no Ray chatter on the user's terminal
    result = json.loads(stdout)
    assert result["answer"] == "4" and [n["status"] for n in result["nodes"]] == ["done"] * 3
    from lmteams.state.store import EventStore

    store = EventStore(tmp_path / ".lmteams" / "lmteams.db")
    started = store.events(result["run_id"], types=["run_started"])[0]
    assert started.data["runtime"] == "ray"
    store.close()
    for _ in range(50):  # its cluster is stopped, not left behind
        if not ray_processes_started_by(proc.pid):
            break
        time.sleep(0.1)
    assert ray_processes_started_by(proc.pid) == []


RAY_WARNING = "lmteams test: a warning Ray publishes for the driver"


def warns_then_answers(call):  # type: ignore[no-untyped-def]
    """Node a has Ray publish a warning for the driver (as a raylet does), then all answer."""
    if call.node == "a":
        import ray
        from ray._private.utils import publish_error_to_driver

        gcs = ray._private.worker.global_worker.gcs_client
        publish_error_to_driver("lmteams_test", RAY_WARNING, gcs_client=gcs)
        time.sleep(2)  # the driver receives and prints it before this ask ends
    return "Answer: 4"


@needs_loopback
@pytest.mark.ray
def test_ray_messages_for_the_driver_go_to_stderr_not_into_the_json(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        'models:\n  m: {backend: scripted, script: "tests.runtime.test_ray_cli:warns_then_answers"}\n'
        "nodes: [{name: a}, {name: b}, {name: c}]\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    args = ["ask", "What is 2 + 2?", "-t", str(team), "--runtime", "ray", "--json"]
    proc = lmteams(*args, cwd=tmp_path, env={"PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr
    assert RAY_WARNING in proc.stderr  # Ray's message is shown, on stderr
    assert json.loads(proc.stdout)["answer"] == "4"  # and stdout is the JSON alone


@pytest.mark.ray
def test_ask_joins_a_running_cluster_and_leaves_it_running(
    tmp_path: Path, team_file: Path, ray_cluster: None
) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    proc = lmteams(
        "ask",
        "What is 2 + 2?",
        "-t",
        str(team_file),
        "--runtime",
        "ray",
        "--ray-address",
        address,
        "--json",
        cwd=tmp_path,
        env={"RAY_AUTH_MODE": "token"},  # the session cluster uses Ray's token authentication
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"] == "4"
    assert all(n["Alive"] for n in ray.nodes())
    assert ray.get(ray.put("still here")) == "still here"


@needs_loopback
@pytest.mark.ray
def test_sweep_on_ray_runs_every_cell_on_one_private_cluster(tmp_path: Path) -> None:
    from tests.cli.test_run_cli import TEAM, assert_speedups_follow_their_baseline, ran_side_by_side
    from tests.scheduling.test_graph import STUDY

    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    project = next(p for p in STUDY if p.stem == "svgutils_p09")
    args = ["sweep", str(project), "-t", str(team), "-w", "1..2", "-T", "steal", "--json"]
    proc = lmteams(*args, "--runtime", "ray", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    medians = json.loads(proc.stdout)["medians"]
    assert [(m["topology"], m["workers"]) for m in medians] == [("steal", 1), ("steal", 2)]
    # Behaviour, not speed (a busy machine read 0.77): the speedup is reported and follows
    # its baseline, and the two-worker run really ran two tasks side by side on Ray.
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert_speedups_follow_their_baseline(rows)
    from lmteams.state.store import EventStore

    store = EventStore(tmp_path / ".lmteams" / "lmteams.db")
    runs = store.runs()
    assert len(runs) == 2 and all(r.status == "done" for r in runs)
    runtimes = [store.events(r.run_id, types=["run_started"])[0].data["runtime"] for r in runs]
    two = next(r["run_id"] for r in rows if r["workers"] == 2)
    assert ran_side_by_side(store, two, 2)
    store.close()
    assert runtimes == ["ray", "ray"]
