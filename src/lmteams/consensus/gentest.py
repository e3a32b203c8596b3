"""Generate and test: candidate programs checked by tests, ranked by agreement on inputs.

A code question carries its tests: the fenced Python blocks of the question that ``assert``
something (and bare ``assert`` lines). Each candidate is run in the sandbox by
:func:`harness`: its code is loaded, the given tests run against it, then every input the team
wrote (calls such as ``is_prime(9)``; the team writes inputs, never expected outputs, so a
wrong expectation cannot reject a right program) is evaluated and the results printed. A
candidate passes when it loads and its tests pass. Passing candidates that print the same
results on every input form a cluster, and the largest cluster wins (its first candidate in
team order is shown), as in AlphaCode's clustering and CodeT's dual agreement. Pure.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lmteams.consensus.program import PYTHON_LABELS

PROBE_MARKER = "LMTEAMS-PROBE "
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
EXIT_LOAD = 3
EXIT_TESTS = 4


def given_tests(question: str) -> str:
    """The tests a question gives: its Python blocks that assert, plus bare assert lines."""
    blocks = []
    for match in _FENCE.finditer(question):
        body = match.group(2)
        if match.group(1).lower() in PYTHON_LABELS and re.search(r"^\s*assert\b", body, re.M):
            blocks.append(body.strip("\n"))
    outside = _FENCE.sub("", question)
    lines = [line.strip() for line in outside.splitlines() if line.strip().startswith("assert ")]
    for line in lines:
        try:
            ast.parse(line)
        except SyntaxError:
            continue
        blocks.append(line)
    return "\n\n".join(blocks)


def candidate_prompt(question: str) -> str:
    return (
        f"{question}\n\n"
        "Write the complete solution in Python. Reply with one ```python code block holding "
        "the code (functions and imports only: no tests, no input(), no printing)."
    )


def inputs_prompt(question: str, count: int) -> str:
    return (
        f"Here is a programming task:\n\n{question}\n\n"
        f"Write {count} different example calls of the function it asks for, including edge "
        "cases, one per line, as Python expressions such as `f(1, 2)`. Put them in one "
        "```python code block. Do not write the function and do not write expected results."
    )


def _call_of(node: ast.AST) -> ast.expr | None:
    """The call a line states: the expression itself, the printed value or the asserted side."""
    if isinstance(node, ast.Expr):
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "print"
            and len(value.args) == 1
        ):
            value = value.args[0]
        return value if isinstance(value, ast.Call) else None
    if isinstance(node, ast.Assert):
        test = node.test
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Call):
            return test.left
        return test if isinstance(test, ast.Call) else None
    return None


def parse_inputs(reply: str, count: int) -> list[str]:
    """Up to ``count`` distinct calls written in ``reply`` (its code blocks, else its lines)."""
    blocks = [m.group(2) for m in _FENCE.finditer(reply)]
    text = "\n".join(blocks) if blocks else reply
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip().removeprefix(">>>").strip()
        if not line or line.startswith("#"):
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        if len(tree.body) != 1:
            continue
        call = _call_of(tree.body[0])
        if call is None:
            continue
        expression = ast.unparse(call)
        if expression not in found:
            found.append(expression)
        if len(found) >= count:
            break
    return found


HARNESS = """\
import json, sys, traceback
namespace = {"__name__": "solution"}
try:
    with open("solution.py") as source:
        exec(compile(source.read(), "solution.py", "exec"), namespace)
except BaseException:
    traceback.print_exc()
    sys.exit(EXIT_LOAD)
with open("tests.py") as source:
    tests = source.read()
if tests.strip():
    try:
        exec(compile(tests, "tests.py", "exec"), dict(namespace))
    except BaseException:
        traceback.print_exc()
        sys.exit(EXIT_TESTS)
outputs = []
with open("inputs.json") as source:
    expressions = json.load(source)
for expression in expressions:
    try:
        outputs.append(repr(eval(expression, dict(namespace))))
    except Exception as exc:
        outputs.append("raised " + type(exc).__name__)
print(PROBE_MARKER + json.dumps(outputs))
"""
HARNESS = (
    HARNESS.replace("EXIT_LOAD", str(EXIT_LOAD))
    .replace("EXIT_TESTS", str(EXIT_TESTS))
    .replace("PROBE_MARKER", repr(PROBE_MARKER))
)


def harness_files(code: str, tests: str, inputs: Sequence[str]) -> dict[str, str]:
    """The files of one candidate's sandboxed run; run ``main.py``."""
    return {
        "main.py": HARNESS,
        "solution.py": code,
        "tests.py": tests,
        "inputs.json": json.dumps(list(inputs)),
    }


def probe_outputs(stdout: str) -> tuple[str, ...] | None:
    """The results a harness printed for the inputs, or None if it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(PROBE_MARKER):
            try:
                values = json.loads(line[len(PROBE_MARKER) :])
            except json.JSONDecodeError:
                return None
            if isinstance(values, list) and all(isinstance(v, str) for v in values):
                return tuple(values)
            return None
    return None


def failure(returncode: int | None, timed_out: bool) -> str:
    """Why a harness run did not pass, from how it ended."""
    if timed_out:
        return "timed out"
    if returncode == EXIT_LOAD:
        return "the code does not load"
    if returncode == EXIT_TESTS:
        return "the given tests fail"
    return f"exit code {returncode}"


@dataclass(frozen=True, slots=True)
class Run:
    """One candidate after its sandboxed run."""

    index: int  # the candidate's position (team order, then repeats)
    node: str
    passed: bool
    outputs: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    """Passing candidates that printed the same results on every input."""

    signature: str  # a short digest of the results; the answer key of the cluster
    members: tuple[int, ...]  # candidate indexes, in order
    outputs: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.members)


def signature(outputs: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(outputs)).encode()).hexdigest()[:16]


def clusters(runs: Sequence[Run]) -> list[Cluster]:
    """Passing runs grouped by their results; the largest first, ties by first member."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for run in sorted(runs, key=lambda r: r.index):
        if run.passed:
            groups.setdefault(run.outputs, []).append(run.index)
    found = [Cluster(signature(out), tuple(members), out) for out, members in groups.items()]
    return sorted(found, key=lambda c: (-c.size, c.members[0]))
