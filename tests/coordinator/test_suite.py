"""The final suite's junit counts, and check output as a node is shown it."""

from __future__ import annotations

from lmteams.coordinator.suite import (
    JUNIT_MARKER,
    check_feedback,
    cut_lines,
    parse_junit,
    suite_result,
    suite_shell,
    without_warnings,
)
from lmteams.sandbox import SandboxResult

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1"
failures="2" skipped="1" tests="10" time="0.1"></testsuite></testsuites>"""


def sandbox(stdout: str = "", stderr: str = "", code: int | None = 1) -> SandboxResult:
    return SandboxResult(code, stdout, stderr, 0.1, False, True)


def test_parse_junit_counts() -> None:
    assert parse_junit(JUNIT) == {"tests": 10, "failures": 2, "errors": 1, "skipped": 1}
    assert parse_junit('<testsuite tests="3" failures="0"/>') == {
        "tests": 3,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
    }
    assert parse_junit("not xml <") is None
    assert parse_junit("<html/>") is None
    assert parse_junit('<testsuite tests="many"/>') is None


def test_suite_result_reads_the_report_after_the_marker() -> None:
    result = suite_result("pytest -q", sandbox("2 failed, 6 passed", f"{JUNIT_MARKER}\n{JUNIT}"))
    assert (result.passed, result.failed, result.errors, result.skipped) == (6, 2, 1, 1)
    assert not result.ok and JUNIT_MARKER not in result.summary


def test_suite_result_falls_back_to_pytests_summary_line() -> None:
    result = suite_result("pytest -q", sandbox("== 1 failed, 4 passed in 0.2s ==", ""))
    assert (result.passed, result.failed, result.errors) == (4, 1, 0)


def test_a_suite_that_is_not_pytest_has_no_counts() -> None:
    assert suite_shell("make test") == "make test"
    assert "--junitxml" in suite_shell("{python} -m pytest -q")
    result = suite_result("make test", sandbox("ok", "", 0))
    assert result.ok and result.passed is None


def test_feedback_drops_pytest_warnings_and_keeps_the_failure() -> None:
    output = "\n".join(
        [
            "F.                                   [100%]",
            "=================== FAILURES ===================",
            "E   assert add(2, 3) == 5",
            "=============== warnings summary ===============",
            "conftest.py:1: PytestDeprecationWarning: the loop scope is unset",
            "  warnings.warn(PytestDeprecationWarning(_DEFAULT_FIXTURE_LOOP_SCOPE_UNSET))",
            "-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html",
            "=========== short test summary info ============",
            "FAILED test_add.py::test_add - assert -1 == 5",
            "1 failed in 0.1s",
        ]
    )
    text = check_feedback(sandbox(output), 2000)
    assert "Warning" not in text and "Docs" not in text
    assert "FAILED test_add.py::test_add - assert -1 == 5" in text
    assert text.startswith("exit code 1\n")
    assert without_warnings(["a DeprecationWarning: x", "ImportError: y"]) == ["ImportError: y"]


def test_feedback_is_cut_at_line_boundaries() -> None:
    lines = [f"line {i} " + "x" * 20 for i in range(100)]
    text = cut_lines(lines, 300)
    kept = text.splitlines()
    assert kept[0] == f"[... {100 - (len(kept) - 1)} lines before ...]"
    assert all(line in lines for line in kept[1:]) and kept[-1] == lines[-1]
    assert cut_lines(["y" * 50], 10) == "y" * 10


def test_the_task_prompt_shows_whole_lines_of_feedback() -> None:
    from lmteams.scheduling.project import parse_project
    from lmteams.scheduling.prompts import task_prompt

    project = parse_project({"tasks": [{"id": "a", "files": ["a.py"]}]}, source="t")
    feedback = "\n".join(f"line {i:04d} " + "z" * 30 for i in range(200))
    prompt = task_prompt(project, project.task("a"), {}, feedback)
    shown = prompt.split("failed its check:\n", 1)[1].split("\nFix it.", 1)[0]
    assert len(shown) <= 1500 and shown.splitlines()[-1] == feedback.splitlines()[-1]
    assert all(line in feedback.splitlines() for line in shown.splitlines())
