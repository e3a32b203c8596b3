"""A table of bad inputs, each answered with one line on stderr, exit code 2 and no traceback.

Files (team, project, dataset, script, database), flags and arguments, across the commands.
Most rows run the CLI in this process (``main()`` with ``sys.argv`` set: the same handler a
user gets); a representative set runs ``lmteams`` as a real subprocess, where a real traceback
would show. Each row has 10 s of CPU time: a bound on behaviour (a hostile file must not
keep a parser busy), not a speed check, and counted in CPU seconds so that a machine shared
with other work does not fail it; a wall-clock bound of a minute catches a row that blocks.
Big files are sparse, so the table stays fast.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import typer.main

import lmteams.cli.app
from lmteams.cli.app import main
from lmteams.limits import MAX_TEXT_CHARS

CPU_LIMIT_S = 10
WALL_LIMIT_S = 60
EXIT_BAD_INPUT = 2

TEAM = """
name: scripted
models:
  m: {backend: scripted, default: "Answer: 4"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
  - {name: c, role: responder}
"""

PROJECT = {
    "project": "p",
    "tasks": [
        {"id": "t1", "title": "one"},
        {"id": "t2", "title": "two", "dependencies": ["t1"]},
    ],
}


def scripted_team(extra: str = "", script: str | None = None, model: str = "") -> str:
    options = f", script: {script!r}" if script else ""
    return (
        f"models:\n  m: {{backend: scripted{options}{model}}}\n"
        f"nodes:\n  - {{name: a}}\n  - {{name: b}}\n{extra}"
    )


def project_with(**changes: object) -> str:
    return json.dumps({**PROJECT, **changes})


def task_with(**changes: object) -> str:
    return json.dumps({**PROJECT, "tasks": [{"id": "t1", **changes}]})


def laughs() -> str:
    levels = "".join(f"l{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * 10)}]\n" for i in range(8))
    return "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + levels + scripted_team()


FILES: dict[str, str | bytes] = {
    # -- teams ---------------------------------------------------------------------------
    "team.yaml": TEAM,
    "empty.yaml": "",
    "garbage.yaml": bytes(range(256)) * 8,
    "nul.yaml": "name: x\0y\n",
    "latin1.yaml": b"name: caf\xe9\nnodes: [{name: a}]\n",
    "syntax.yaml": "nodes:\n  - name: a\n   role: [x\n",
    "list.yaml": "- a\n- b\n",
    "scalar.yaml": "just words\n",
    "two_docs.yaml": TEAM + "\n---\n" + TEAM,
    "python_tag.yaml": "name: !!python/object/apply:os.system ['true']\nnodes: [{name: a}]\n",
    "no_nodes.yaml": "models: {m: {backend: scripted}}\n",
    "zero_nodes.yaml": "models: {m: {backend: scripted}}\nnodes: []\n",
    "nodes_mapping.yaml": "models: {m: {backend: scripted}}\nnodes: {a: 1}\n",
    "unknown_top.yaml": scripted_team("colour: blue\n"),
    "unknown_node_field.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: a, mood: x}]\n",
    "bad_node_name.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: 'a b'}]\n",
    "duplicate_nodes.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: a}, {name: a}]\n",
    "unknown_model_ref.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: a, model: z}]\n",
    "unknown_default_model.yaml": scripted_team("defaults: {model: z}\n"),
    "no_models.yaml": "models: {}\nnodes: [{name: a}]\n",
    "bad_model_name.yaml": "models: {'m m': {backend: scripted}}\nnodes: [{name: a}]\n",
    "unknown_backend.yaml": "models: {m: {backend: quantum}}\nnodes: [{name: a}]\n",
    "temperature_type.yaml": scripted_team("defaults: {temperature: hot}\n"),
    "temperature_range.yaml": scripted_team("defaults: {temperature: 5}\n"),
    "max_tokens_zero.yaml": scripted_team("defaults: {max_tokens: 0}\n"),
    "concurrency_negative.yaml": "models: {m: {backend: scripted}}\n"
    "nodes: [{name: a, max_concurrent: -1}]\n",
    "weight_zero.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: a, weight: 0}]\n",
    "seed_type.yaml": "models: {m: {backend: scripted}}\nnodes: [{name: a, seed: [1]}]\n",
    "scripted_unknown_option.yaml": scripted_team(model=", colour: blue"),
    "scripted_latency_type.yaml": scripted_team(model=", latency_s: soon"),
    "unknown_strategy.yaml": scripted_team("consensus: {strategy: astrology}\n"),
    "unknown_role.yaml": scripted_team("roles: {wizard: {balance: round-robin}}\n"),
    "resilience_unknown.yaml": scripted_team("resilience: {bravery: 11}\n"),
    "faults_unknown_node.yaml": scripted_team("faults: {nodes: {zed: {crash: 1}}}\n"),
    "budget_negative.yaml": scripted_team("budget: {max_tokens: -5}\n"),
    "ray_type.yaml": scripted_team("ray: 7\n"),
    "long_prompt.yaml": scripted_team(
        f"defaults: {{system_prompt: {'x' * (MAX_TEXT_CHARS + 1)}}}\n"
    ),
    "deep_flow.yaml": "nodes: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep_block.yaml": "models:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)),
    "laughs.yaml": laughs(),
    # -- scripts -------------------------------------------------------------------------
    "script_os.yaml": scripted_team(script="os:system"),
    "embed_python.yaml": (
        "models:\n"
        "  m1: {backend: scripted, default: 'Answer: the big apple'}\n"
        "  m2: {backend: scripted, default: 'Answer: new york'}\n"
        "  p: {backend: python}\n"
        "nodes:\n  - {name: a, model: m1}\n  - {name: b, model: m2}\n"
        "consensus: {similarity: embedding, embedding_model: p}\n"
    ),
    "script_subprocess.yaml": scripted_team(script="subprocess:run"),
    "script_eval.yaml": scripted_team(script="builtins:eval"),
    "script_shutil.yaml": scripted_team(script="shutil:rmtree"),
    "script_syntax.yaml": scripted_team(script="broken.py:answer"),
    "script_syntax_module.yaml": scripted_team(script="broken_module:answer"),
    "script_raises.yaml": scripted_team(script="raising.py:answer"),
    "script_not_callable.yaml": scripted_team(script="shapes.py:number"),
    "script_class.yaml": scripted_team(script="shapes.py:Shape"),
    "script_two_args.yaml": scripted_team(script="shapes.py:two"),
    "script_borrowed.yaml": scripted_team(script="shapes.py:rmtree"),
    "script_missing_module.yaml": scripted_team(script="no_such_module:answer"),
    "script_missing_file.yaml": scripted_team(script="nowhere.py:answer"),
    "script_missing_attr.yaml": scripted_team(script="shapes.py:nothing"),
    "script_no_colon.yaml": scripted_team(script="shapes"),
    "script_bad_error_kind.yaml": scripted_team(model=", error: gremlins"),
    "broken.py": "x = 1\ndef answer(call)\n    return 'Answer: 1'\n",
    "broken_module.py": "def answer(call):\nreturn 1\n",
    "raising.py": "raise RuntimeError('cannot start')\n",
    "shapes.py": "from shutil import rmtree\nnumber = 3\n\n"
    "class Shape:\n    pass\n\n\ndef two(a, b):\n    return 'x'\n",
    # -- projects ------------------------------------------------------------------------
    "project.json": json.dumps(PROJECT),
    "empty.json": "",
    "p_syntax.json": '{"tasks": [',
    "p_list.json": "[1, 2]",
    "p_no_tasks.json": '{"project": "p"}',
    "p_zero_tasks.json": project_with(tasks=[]),
    "p_cycle.json": project_with(
        tasks=[{"id": "a", "dependencies": ["b"]}, {"id": "b", "dependencies": ["a"]}]
    ),
    "p_unknown_dep.json": project_with(tasks=[{"id": "a", "dependencies": ["ghost"]}]),
    "p_duplicate.json": project_with(tasks=[{"id": "a"}, {"id": "a"}]),
    "p_unknown_field.json": project_with(deadline="friday"),
    "p_task_unknown_field.json": task_with(colour="red"),
    "p_id_type.json": project_with(tasks=[{"id": 5}]),
    "p_abs_file.json": task_with(files=["/etc/passwd"]),
    "p_parent_file.json": task_with(files=["../outside.py"]),
    "p_estimate.json": task_with(estimate_s=-3),
    "p_retries.json": project_with(max_check_retries=99),
    "p_candidates.json": project_with(candidates=0),
    "p_task_candidates.json": task_with(candidates=99),
    "p_candidates_type.json": project_with(candidates="many"),
    "p_sandbox.json": project_with(sandbox={"memory_mb": 1}),
    "p_long_description.json": task_with(description="x" * (MAX_TEXT_CHARS + 1)),
    "p_deep.json": '{"tasks": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "p_deep_shallow.json": '{"tasks": [' + "[" * 70 + "]" * 70 + "]}",
    "p_garbage.json": bytes(range(256)) * 4,
    "p_empty.yaml": "",
    "p_deep.yaml": "tasks: " + "[" * 5000 + "]" * 5000 + "\n",
    # -- datasets ------------------------------------------------------------------------
    "empty.jsonl": "\n\n",
    "d_not_json.jsonl": '{"question": "q", "answer": "1"}\nnot json\n',
    "d_list.jsonl": "[1, 2]\n",
    "d_no_answer.jsonl": '{"question": "What is 2 + 2?"}\n',
    "d_empty_question.jsonl": '{"question": "", "answer": "1"}\n',
    "d_deep.jsonl": '{"question": "q", "answer": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
    "d_long.jsonl": json.dumps({"question": "x" * (MAX_TEXT_CHARS + 1), "answer": "1"}) + "\n",
    "d_garbage.jsonl": bytes(range(256)) * 4,
    "good.jsonl": '{"question": "What is 2 + 2?", "answer": "4"}\n',
    # -- other files -----------------------------------------------------------------------
    "garbage.db": b"this is not a database, only words " * 200,
    "garbage.bin": bytes(range(256)) * 16,
    "deep_sweep/sweep.json": "[" * 100_000 + "]" * 100_000,
    "bad_calibration.json": "{not json",
    "deep_calibration.json": "[" * 5000 + "]" * 5000,
    "deep_latencies.txt": "[" * 5000 + "]" * 5000,
    "deep_sim/simulation.json": '{"kind": "simulation", "x": ' + "[" * 5000 + "]" * 5000 + "}",
}

SPARSE = {"huge.yaml": 50 << 20, "huge.json": 50 << 20, "huge.jsonl": 100 << 20}


def sqlite_with(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for name, size in SPARSE.items():
        with open(root / name, "wb") as file:
            file.truncate(size)
    os.mkfifo(root / "pipe.yaml")
    (root / "a_folder").mkdir()
    # A real SQLite file that is no event log, one cut short, one from a future lmteams.
    sqlite_with(
        root / "other.db", "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('x');"
    )
    whole = (root / "other.db").read_bytes()
    (root / "truncated.db").write_bytes(whole[:100] + b"\x00" * 50)
    return root


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    says: str  # a fragment the one line must hold

    def args(self, root: Path) -> list[str]:
        return [arg.replace("{d}", str(root)) for arg in self.argv]

    def line(self, root: Path) -> str:
        return self.says.replace("{d}", str(root))


def case(id: str, says: str, *argv: str) -> Case:
    return Case(id, argv, says)


def team_case(name: str, says: str, command: str = "nodes") -> Case:
    first = ["ask", "What is 2 + 2?"] if command == "ask" else [command]
    prefix = "" if command == "nodes" else f"{command}-"
    return Case(f"{prefix}team-{name.removesuffix('.yaml')}", (*first, "-t", f"{{d}}/{name}"), says)


DB = ("--db", "{d}/runs.db")

CASES = [
    # -- team files ----------------------------------------------------------------------
    team_case("missing.yaml", "missing.yaml: file not found"),
    team_case("a_folder", "a_folder: is a directory"),
    team_case("empty.yaml", "must be a mapping"),
    team_case("garbage.yaml", "not UTF-8 text"),
    team_case("nul.yaml", "invalid YAML"),
    team_case("latin1.yaml", "not UTF-8 text (byte 0xe9"),
    team_case("syntax.yaml", "syntax.yaml: line 3"),
    team_case("list.yaml", "must be a mapping"),
    team_case("scalar.yaml", "must be a mapping"),
    team_case("two_docs.yaml", "invalid YAML"),
    team_case("python_tag.yaml", "invalid YAML"),
    team_case("no_nodes.yaml", "nodes: required field is missing"),
    team_case("zero_nodes.yaml", "nodes: "),
    team_case("nodes_mapping.yaml", "nodes: "),
    team_case("unknown_top.yaml", "colour: unknown field"),
    team_case("unknown_node_field.yaml", "nodes[0].mood: unknown field"),
    team_case("bad_node_name.yaml", "nodes[0].name"),
    team_case("duplicate_nodes.yaml", "duplicate node name 'a'"),
    team_case("unknown_model_ref.yaml", "unknown model 'z'"),
    team_case("unknown_default_model.yaml", "defaults.model: unknown model 'z'"),
    team_case("no_models.yaml", "at least one model"),
    team_case("bad_model_name.yaml", "model name 'm m'"),
    team_case("unknown_backend.yaml", "unknown backend 'quantum'"),
    team_case("temperature_type.yaml", "defaults.temperature"),
    team_case("temperature_range.yaml", "defaults.temperature"),
    team_case("max_tokens_zero.yaml", "defaults.max_tokens"),
    team_case("concurrency_negative.yaml", "nodes[0].max_concurrent"),
    team_case("weight_zero.yaml", "nodes[0].weight"),
    team_case("seed_type.yaml", "nodes[0].seed"),
    team_case("scripted_unknown_option.yaml", "models.m.colour"),
    team_case("scripted_latency_type.yaml", "models.m.latency_s"),
    team_case("unknown_strategy.yaml", "astrology"),
    team_case("unknown_role.yaml", "roles"),
    team_case("resilience_unknown.yaml", "resilience.bravery"),
    team_case("faults_unknown_node.yaml", "faults"),
    team_case("budget_negative.yaml", "budget.max_tokens"),
    team_case("ray_type.yaml", "ray"),
    team_case("long_prompt.yaml", "defaults.system_prompt"),
    team_case("deep_flow.yaml", "deep_flow.yaml: line 1"),
    team_case("deep_block.yaml", "nested more than 64 levels deep"),
    team_case("laughs.yaml", "expands to more than"),
    team_case("huge.yaml", "file is too large (50.0 MiB"),
    team_case("pipe.yaml", "not a regular file"),
    case("team-dev-zero", "not a regular file", "nodes", "-t", "/dev/zero"),
    team_case("huge.yaml", "file is too large", command="ask"),
    team_case("deep_flow.yaml", "deep_flow.yaml", command="ask"),
    case(
        "eval-team-syntax", "syntax.yaml: line 3", "eval", "{d}/good.jsonl", "-t", "{d}/syntax.yaml"
    ),
    # -- scripts -------------------------------------------------------------------------
    team_case("script_os.yaml", "models.m.script: script 'os:system': 'os' is part of Python"),
    team_case("script_subprocess.yaml", "'subprocess' is part of Python"),
    team_case("script_eval.yaml", "'builtins' is part of Python"),
    team_case("script_shutil.yaml", "'shutil' is part of Python"),
    team_case("script_syntax.yaml", "broken.py, line 2: expected ':'"),
    team_case("script_raises.yaml", "importing it raised RuntimeError: cannot start"),
    team_case("script_not_callable.yaml", "is not a plain function (int)"),
    team_case("script_class.yaml", "is not a plain function (type)"),
    team_case("script_two_args.yaml", "must take exactly one argument"),
    team_case("script_borrowed.yaml", "rmtree is imported from shutil"),
    team_case("script_missing_module.yaml", "No module named 'no_such_module'"),
    team_case("script_missing_file.yaml", "no file nowhere.py"),
    team_case("script_missing_attr.yaml", "has no 'nothing'"),
    team_case("script_no_colon.yaml", "must look like 'module:function'"),
    team_case("script_os.yaml", "'os' is part of Python", command="ask"),
    team_case("script_syntax.yaml", "broken.py, line 2", command="ask"),
    team_case("script_bad_error_kind.yaml", "unknown error 'gremlins'", command="ask"),
    team_case(
        "embed_python.yaml",
        "consensus.embedding_model: model 'p' (python) cannot embed",
        command="ask",
    ),
    # -- project files -------------------------------------------------------------------
    case("project-missing", "nope.json: file not found", "analyze", "{d}/nope.json"),
    case("project-unknown-name", "not found", "analyze", "no-such-shipped-project"),
    case("project-empty-json", "invalid JSON", "analyze", "{d}/empty.json"),
    case("project-empty-yaml", "must be a mapping", "analyze", "{d}/p_empty.yaml"),
    case("project-syntax", "p_syntax.json: line 1", "analyze", "{d}/p_syntax.json"),
    case("project-list", "must be a mapping", "analyze", "{d}/p_list.json"),
    case("project-no-tasks", "tasks: required field is missing", "analyze", "{d}/p_no_tasks.json"),
    case("project-zero-tasks", "no tasks", "analyze", "{d}/p_zero_tasks.json"),
    case("project-cycle", "cycle", "analyze", "{d}/p_cycle.json"),
    case("project-unknown-dep", "ghost", "analyze", "{d}/p_unknown_dep.json"),
    case("project-duplicate", "'a'", "analyze", "{d}/p_duplicate.json"),
    case("project-unknown-field", "deadline: unknown field", "analyze", "{d}/p_unknown_field.json"),
    case(
        "project-task-field",
        "tasks[0].colour: unknown field",
        "analyze",
        "{d}/p_task_unknown_field.json",
    ),
    case("project-id-type", "tasks[0].id", "analyze", "{d}/p_id_type.json"),
    case("project-abs-file", "must be a relative path", "analyze", "{d}/p_abs_file.json"),
    case("project-parent-file", "must be a relative path", "analyze", "{d}/p_parent_file.json"),
    case("project-estimate", "tasks[0].estimate_s", "analyze", "{d}/p_estimate.json"),
    case("project-retries", "max_check_retries", "analyze", "{d}/p_retries.json"),
    case(
        "project-candidates",
        "candidates: Input should be greater than or equal to 1",
        "analyze",
        "{d}/p_candidates.json",
    ),
    case(
        "project-task-candidates",
        "tasks[0].candidates: Input should be less than or equal to 16",
        "analyze",
        "{d}/p_task_candidates.json",
    ),
    case(
        "project-candidates-type",
        "candidates: Input should be a valid integer",
        "analyze",
        "{d}/p_candidates_type.json",
    ),
    case("project-sandbox", "sandbox.memory_mb", "analyze", "{d}/p_sandbox.json"),
    case(
        "project-long-description", "tasks[0].description", "analyze", "{d}/p_long_description.json"
    ),
    case("project-deep-json", "nested more than 64 levels", "analyze", "{d}/p_deep.json"),
    case(
        "project-deep-json-70", "nested more than 64 levels", "analyze", "{d}/p_deep_shallow.json"
    ),
    case("project-deep-yaml", "p_deep.yaml", "analyze", "{d}/p_deep.yaml"),
    case("project-huge", "file is too large (50.0 MiB", "analyze", "{d}/huge.json"),
    case("project-garbage", "not UTF-8 text", "analyze", "{d}/p_garbage.json"),
    case("project-dev-zero", "not a regular file", "analyze", "/dev/zero"),
    case("run-project-cycle", "cycle", "run", "{d}/p_cycle.json", "-t", "{d}/team.yaml", *DB),
    case("run-project-huge", "file is too large", "run", "{d}/huge.json", *DB),
    case("simulate-project-deep", "nested more than", "simulate", "{d}/p_deep.json"),
    case("sweep-project-missing", "file not found", "sweep", "{d}/nope.yaml", *DB),
    case(
        "advise-project-garbage",
        "not UTF-8",
        "advise",
        "{d}/p_garbage.json",
        "--price",
        "input=1,output=1",
    ),
    # -- flags and arguments -------------------------------------------------------------
    case(
        "ask-empty-question", "question: must not be empty", "ask", "", "-t", "{d}/team.yaml", *DB
    ),
    case(
        "ask-blank-question",
        "question: must not be empty",
        "ask",
        "  \n ",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "ask-answer-json-empty", "--answer", "ask", "q", "-a", "json:", "-t", "{d}/team.yaml", *DB
    ),
    case(
        "ask-answer-unknown",
        "unknown answer type 'colour'",
        "ask",
        "q",
        "-a",
        "colour",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "ask-consensus-unknown",
        "astrology",
        "ask",
        "q",
        "-c",
        "astrology",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("ask-nodes-zero", "--nodes", "ask", "q", "-n", "0", "-t", "{d}/team.yaml", *DB),
    case("ask-nodes-word", "--nodes", "ask", "q", "-n", "many", "-t", "{d}/team.yaml", *DB),
    case("ask-unknown-flag", "--colour", "ask", "q", "--colour", "blue"),
    case(
        "ask-node-unknown",
        "zed",
        "ask",
        "q",
        "-c",
        "single",
        "--node",
        "zed",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "ask-judge-unknown",
        "--judge: unknown node 'zed'",
        "ask",
        "q",
        "-c",
        "judge",
        "--judge",
        "zed",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("ask-rounds-range", "--rounds", "ask", "q", "--rounds", "99", "-t", "{d}/team.yaml", *DB),
    case(
        "ask-threshold-range",
        "threshold",
        "ask",
        "q",
        "--threshold",
        "5",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "ask-similarity-unknown",
        "similarity",
        "ask",
        "q",
        "--similarity",
        "vibes",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("ask-role-unknown", "wizard", "ask", "q", "--role", "wizard", "-t", "{d}/team.yaml", *DB),
    case(
        "ask-runtime-unknown", "cloud", "ask", "q", "--runtime", "cloud", "-t", "{d}/team.yaml", *DB
    ),
    case(
        "ask-inject-garbage",
        "--inject",
        "ask",
        "q",
        "--inject",
        "a:explode=yes",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "ask-quorum-faults",
        "faults",
        "ask",
        "q",
        "-c",
        "quorum",
        "--faults",
        "5",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("ask-db-folder", "a_folder", "ask", "q", "-t", "{d}/team.yaml", "--db", "{d}/a_folder"),
    case(
        "ask-db-garbage", "garbage.db", "ask", "q", "-t", "{d}/team.yaml", "--db", "{d}/garbage.db"
    ),
    case(
        "run-topology-unknown", "mesh", "run", "tiny-math", "-T", "mesh", "-t", "{d}/team.yaml", *DB
    ),
    case("run-workers-zero", "--workers", "run", "tiny-math", "-w", "0", *DB),
    case(
        "run-balance-unknown",
        "balance",
        "run",
        "tiny-math",
        "--balance",
        "chaos",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "run-lead-unknown",
        "zed",
        "run",
        "tiny-math",
        "-T",
        "lead",
        "--lead",
        "zed",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("run-bad-team", "script_os.yaml", "run", "tiny-math", "-t", "{d}/script_os.yaml", *DB),
    case("simulate-latency-unknown", "latency", "simulate", "tiny-math", "-l", "magic:3"),
    case("simulate-workers-word", "workers", "simulate", "tiny-math", "-w", "x..y"),
    case("simulate-topology-unknown", "mesh", "simulate", "tiny-math", "-T", "mesh"),
    case("simulate-random-shape", "random", "simulate", "random:spiral:n=5"),
    case("simulate-tokens-garbage", "tokens", "simulate", "tiny-math", "--tokens", "lots"),
    case("simulate-faults-garbage", "faults", "simulate", "tiny-math", "--faults", "a:explode=yes"),
    case(
        "simulate-calibration-missing",
        "nowhere.json",
        "simulate",
        "tiny-math",
        "-l",
        "calibrated:{d}/nowhere.json",
    ),
    case(
        "simulate-calibration-garbage",
        "bad_calibration.json",
        "simulate",
        "tiny-math",
        "-l",
        "calibrated:{d}/bad_calibration.json",
    ),
    case(
        "simulate-calibration-deep",
        "deep_calibration.json: nested more than",
        "simulate",
        "tiny-math",
        "-l",
        "calibrated:{d}/deep_calibration.json",
    ),
    case(
        "simulate-latencies-deep",
        "--latency: {d}/deep_latencies.txt: nested more than",
        "simulate",
        "tiny-math",
        "-l",
        "empirical:@{d}/deep_latencies.txt",
    ),
    case(
        "simulate-tokens-calibration-deep",
        "nested more than",
        "simulate",
        "tiny-math",
        "--tokens",
        "calibrated:{d}/deep_calibration.json",
    ),
    case("sweep-workers-reversed", "workers", "sweep", "tiny-math", "-w", "5..1", *DB),
    case("advise-price-garbage", "price", "advise", "tiny-math", "--price", "cheap"),
    case("advise-tolerance-range", "--tolerance", "advise", "tiny-math", "--tolerance", "50"),
    case("analyze-max-workers-zero", "--max-workers", "analyze", "tiny-math", "--max-workers", "0"),
    case("dataset-kind-unknown", "unknown question kind 'trivia'", "dataset", "-k", "trivia"),
    case("dataset-set-unknown", "--set: unknown question set 'trivia'", "dataset", "-s", "trivia"),
    case(
        "dataset-kind-not-in-set",
        "--kinds: unknown question kind 'units'; one of: knowledge",
        *("dataset", "-s", "mixed", "-k", "units"),
    ),
    case("dataset-count-zero", "--count", "dataset", "-n", "0"),
    case("dataset-count-huge", "-n: generate at most", "dataset", "-n", "100000000000"),
    case(
        "simulate-workers-huge",
        "--workers: at most 1000 team sizes",
        "simulate",
        "tiny-math",
        "-w",
        "1..100000000",
    ),
    case(
        "sweep-workers-huge", "--workers: at most", "sweep", "tiny-math", "-w", "1,2,1000000", *DB
    ),
    case("team-empty-name", "no file name given", "nodes", "-t", ""),
    case(
        "advise-price-nan",
        "--price: 'input=nan'",
        "advise",
        "tiny-math",
        "--price",
        "input=nan,output=1",
    ),
    case("advise-deadline-negative", "--deadline", "advise", "tiny-math", "--deadline", "-1"),
    case("advise-budget-nan", "--budget", "advise", "tiny-math", "--budget", "nan"),
    case("dataset-kinds-empty", "--kinds", "dataset", "-k", ","),
    case("serve-port-range", "--port", "serve-model", "--port", "70000"),
    case("serve-model-unknown", "nope", "serve-model", "--model", "nope", "-t", "{d}/team.yaml"),
    case("serve-public-no-key", "--api-key", "serve-model", "--host", "0.0.0.0"),
    case("serve-bad-team", "not UTF-8", "serve-model", "-m", "m", "-t", "{d}/garbage.yaml"),
    case("index-missing-path", "nowhere", "index", "{d}/nowhere", "-o", "{d}/idx.db"),
    case("index-chunk-lines", "--chunk-lines", "index", "{d}", "--chunk-lines", "1"),
    case("search-missing-index", "nowhere.db", "search", "q", "-i", "{d}/nowhere.db"),
    case("search-garbage-index", "garbage.db", "search", "q", "-i", "{d}/garbage.db"),
    case("unknown-command", "frobnicate", "frobnicate"),
    # -- datasets ------------------------------------------------------------------------
    case(
        "eval-missing",
        "nope.jsonl: file not found",
        "eval",
        "{d}/nope.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("eval-empty", "no questions", "eval", "{d}/empty.jsonl", "-t", "{d}/team.yaml", *DB),
    case(
        "eval-not-json",
        "d_not_json.jsonl: line 2: invalid JSON",
        "eval",
        "{d}/d_not_json.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-line-list",
        "line 1: each line must be an object",
        "eval",
        "{d}/d_list.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-no-answer",
        "answer: required field is missing",
        "eval",
        "{d}/d_no_answer.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-empty-question",
        "line 1: question",
        "eval",
        "{d}/d_empty_question.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-deep-line",
        "line 1: nested more than",
        "eval",
        "{d}/d_deep.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-long-question",
        "line 1: question",
        "eval",
        "{d}/d_long.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-huge",
        "file is too large (100.0 MiB",
        "eval",
        "{d}/huge.jsonl",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case("eval-garbage", "not UTF-8", "eval", "{d}/d_garbage.jsonl", "-t", "{d}/team.yaml", *DB),
    case("eval-folder", "is a directory", "eval", "{d}/a_folder", "-t", "{d}/team.yaml", *DB),
    case(
        "eval-consensus-unknown",
        "'guess'",
        "eval",
        "{d}/good.jsonl",
        "-c",
        "majority,guess",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-parallel-zero",
        "--parallel",
        "eval",
        "{d}/good.jsonl",
        "-p",
        "0",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    case(
        "eval-answer-json-empty",
        "--answer",
        "eval",
        "{d}/good.jsonl",
        "-a",
        "json:",
        "-t",
        "{d}/team.yaml",
        *DB,
    ),
    # -- event logs ----------------------------------------------------------------------
    case("runs-db-garbage", "garbage.db", "runs", "--db", "{d}/garbage.db"),
    case("runs-db-binary", "garbage.bin", "runs", "--db", "{d}/garbage.bin"),
    case("runs-db-truncated", "truncated.db", "runs", "--db", "{d}/truncated.db"),
    case("runs-db-folder", "a_folder", "runs", "--db", "{d}/a_folder"),
    case("runs-db-future", "written by a newer lmteams", "runs", "--db", "{d}/future.db"),
    case("runs-limit-zero", "--limit", "runs", "--limit", "0", *DB),
    case("show-unknown-run", "no run 'ask-nothing'", "show", "ask-nothing", *DB),
    case("show-db-garbage", "garbage.db", "show", "x", "--db", "{d}/garbage.db"),
    case("metrics-unknown-run", "no run 'run-nothing'", "metrics", "run-nothing", *DB),
    case("export-unknown-run", "no run 'ask-nothing'", "export", "ask-nothing", *DB),
    case("export-db-garbage", "garbage.db", "export", "x", "--db", "{d}/garbage.db"),
    case("export-tables-no-out", "--out: give the folder", "export", "x", "-f", "csv", *DB),
    case("export-format-unknown", "--format", "export", "x", "--format", "xml", *DB),
    case("report-unknown-run", "ask-nothing", "report", "ask-nothing", *DB),
    case("report-deep-sweep", "sweep.json", "report", "{d}/deep_sweep", *DB),
    case(
        "report-deep-simulation", "simulation.json: nested more than", "report", "{d}/deep_sim", *DB
    ),
    case("resume-unknown-run", "no run 'ask-nothing'", "resume", "ask-nothing", *DB),
    case("resume-db-garbage", "garbage.db", "resume", "x", "--db", "{d}/garbage.db"),
    case("eval-plot-unknown-run", "no run 'nothing'", "eval-plot", "nothing", *DB),
    case("metrics-db-other-sqlite", "other.db", "metrics", "x", "--db", "{d}/other.db"),
    # a command that only reads the log refuses a path with no log (it makes none there)
    *(
        case(f"{command[0]}-db-typo", "--db: no event log at", *command, "--db", "{d}/typo.db")
        for command in (
            ("runs",),
            ("show", "x"),
            ("export", "x"),
            ("metrics", "x"),
            ("resume", "x"),
            ("eval-plot", "x"),
            ("report", "x"),
            ("analyze", "tiny-math", "--run", "x"),
            ("study", "compare", "x"),
        )
    ),
    case("calibrate-missing", "nowhere.parquet", "calibrate", "{d}/nowhere.parquet"),
    case("calibrate-garbage", "garbage.bin", "calibrate", "{d}/garbage.bin"),
]

# Run as real subprocesses, where a traceback could not be hidden by an in-process handler.
SUBPROCESS = {
    "team-garbage",
    "team-deep_flow",
    "team-laughs",
    "team-huge",
    "team-script_os",
    "ask-empty-question",
    "ask-nodes-zero",
    "project-deep-json",
    "eval-deep-line",
    "runs-db-garbage",
    "runs-db-future",
    "report-deep-sweep",
    "script-module-syntax",
}

CASES.append(
    Case(
        "script-module-syntax",
        ("nodes", "-t", "{d}/script_syntax_module.yaml"),
        "syntax error in",
    )
)


@pytest.fixture(scope="module")
def future_db(files: Path) -> Path:
    """An event log whose schema a newer lmteams wrote (a migration this one does not know)."""
    from lmteams.state.store import EventStore

    path = files / "future.db"
    EventStore(path).close()
    sqlite_with(path, "INSERT INTO _migrations VALUES ('999_from_the_future', 0);")
    return path


class _TimeUp(BaseException):
    """Not an Exception, so the CLI's own handler cannot swallow it."""


@pytest.fixture(scope="module")
def command() -> object:
    """The click command typer builds from the app, built once (typer builds it on every call,
    which costs more than most rows)."""
    return typer.main.get_command(lmteams.cli.app.app)


@pytest.fixture
def in_process(files: Path, command: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # main() is the real entry point with its real error handlers; only the app it calls is
    # the prebuilt command.
    monkeypatch.setattr(lmteams.cli.app, "app", lambda: command.main(prog_name="lmteams"))
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # restored after the row
    monkeypatch.chdir(files)
    monkeypatch.syspath_prepend(str(files))
    for name in ("LMTEAMS_TEAM", "LMTEAMS_DB", "LMTEAMS_RUNTIME", "LMTEAMS_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def time_up(signum: int, frame: FrameType | None) -> None:
        raise _TimeUp(f"still running after {CPU_LIMIT_S} s of CPU or {WALL_LIMIT_S} s")

    previous = {sig: signal.signal(sig, time_up) for sig in (signal.SIGPROF, signal.SIGALRM)}
    try:
        yield
    finally:
        for timer in (signal.ITIMER_PROF, signal.ITIMER_REAL):
            signal.setitimer(timer, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    sys.argv = ["lmteams", *args]
    signal.setitimer(signal.ITIMER_PROF, CPU_LIMIT_S)  # this process's CPU time
    signal.setitimer(signal.ITIMER_REAL, WALL_LIMIT_S)
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def cpu_limit() -> None:
    """In the child: the kernel stops it (SIGXCPU) after CPU_LIMIT_S seconds of CPU."""
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 1))


def run_subprocess(args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMTEAMS_")}
    env |= {"COLUMNS": "200", "PYTHONPATH": str(cwd)}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("lmteams")), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WALL_LIMIT_S,
        preexec_fn=cpu_limit,
        env=env,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line(code: int, out: str, err: str, says: str) -> None:
    assert "Traceback" not in out + err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert says in lines[0], err
    assert code == EXIT_BAD_INPUT, err


def test_the_table_holds_over_a_hundred_bad_inputs() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.id for c in CASES} >= SUBPROCESS


@pytest.mark.parametrize("bad", [c for c in CASES if c.id not in SUBPROCESS], ids=lambda c: c.id)
def test_bad_input_in_process(
    bad: Case,
    files: Path,
    future_db: Path,
    in_process: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_one_line(*run_in_process(bad.args(files), capsys), bad.line(files))


@pytest.mark.parametrize("bad", [c for c in CASES if c.id in SUBPROCESS], ids=lambda c: c.id)
def test_bad_input_in_a_subprocess(bad: Case, files: Path, future_db: Path) -> None:
    assert_one_line(*run_subprocess(bad.args(files), files), bad.line(files))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_team_file_is_one_line(
    files: Path, in_process: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    locked = tmp_path / "locked.yaml"
    locked.write_text(TEAM)
    locked.chmod(0)
    result = run_in_process(["nodes", "-t", str(locked)], capsys)
    assert_one_line(*result, "locked.yaml: cannot read file: Permission denied")
