"""The whole project suite, run once at the end of a run, and what a failed check shows a node.

A pytest suite is run with ``--junitxml`` and its report parsed (``xml.etree``) into passed,
failed, error and skipped counts; the report is printed on the sandbox's stderr after the
run (the sandbox is a copy that is thrown away), so nothing of the workspace changes. Check
output given back to a node is cut at line boundaries, with pytest's warnings taken out, so
the failure itself fits in what the node is shown.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from lmteams.coordinator.settings import SuiteResult
from lmteams.sandbox import SandboxResult
from lmteams.scheduling.prompts import last_lines

JUNIT_MARKER = "----- lmteams junit -----"
_JUNIT_FILE = ".lmteams-junit.xml"
_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped)")


def suite_shell(command: str) -> str:
    """The shell line that runs ``command`` and prints pytest's junit report on stderr."""
    if "pytest" not in command:
        return command
    return (
        f"{{ {command} -p no:cacheprovider --junitxml={_JUNIT_FILE}; }} 2>&1; rc=$?; "
        f"echo '{JUNIT_MARKER}' >&2; cat {_JUNIT_FILE} >&2 2>/dev/null; exit $rc"
    )


def parse_junit(text: str) -> dict[str, int] | None:
    """Counts from a junit XML report (pytest's), or None if it is not one."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            try:
                counts[key] += int(suite.get(key, "0"))
            except ValueError:
                return None
    return counts


def suite_result(command: str, result: SandboxResult) -> SuiteResult:
    """What the suite run recorded: its outcome and test counts."""
    stderr = result.stderr
    counts = None
    if JUNIT_MARKER in stderr:
        before, _, report = stderr.partition(JUNIT_MARKER)
        counts = parse_junit(report.strip())
        stderr = before
    failed = errors = skipped = passed = None
    if counts is not None:
        failed, errors, skipped = counts["failures"], counts["errors"], counts["skipped"]
        passed = counts["tests"] - failed - errors - skipped
    elif "pytest" in command:
        found = {kind.rstrip("s"): int(n) for n, kind in _SUMMARY.findall(result.stdout)}
        if found:
            passed, failed = found.get("passed", 0), found.get("failed", 0)
            errors, skipped = found.get("error", 0), found.get("skipped", 0)
    text = SandboxResult(
        result.returncode,
        result.stdout,
        stderr,
        result.duration_s,
        result.timed_out,
        result.network_isolated,
    )
    return SuiteResult(
        command=command,
        ok=result.ok,
        returncode=result.returncode,
        passed=passed,
        failed=failed,
        errors=errors,
        skipped=skipped,
        summary=check_feedback(text, 1500),
    )


_WARNINGS_HEADER = re.compile(r"^=+ warnings summary =+$")
_SECTION = re.compile(r"^=+ .* =+$")
_WARNING_LINE = re.compile(r"\b\w*Warning: ")


def without_warnings(lines: Sequence[str]) -> list[str]:
    """Pytest output without its warnings summary and stray warning lines."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if _WARNINGS_HEADER.match(line.strip()):
            skipping = True
            continue
        if skipping and _SECTION.match(line.strip()):
            skipping = False
        if skipping:
            continue
        if _WARNING_LINE.search(line) and "Error" not in line:
            continue
        if line.strip().startswith("-- Docs: https://docs.pytest.org"):
            continue
        kept.append(line)
    return kept


def cut_lines(lines: Sequence[str], limit: int) -> str:
    """The last whole lines that fit in ``limit`` characters (a cut says how many went)."""
    kept = last_lines(lines, limit)
    dropped = len(lines) - len(kept)
    if not kept and lines:  # one line longer than the limit: keep its end
        return lines[-1][-limit:]
    head = [f"[... {dropped} lines before ...]"] if dropped else []
    return "\n".join(head + kept)


def check_feedback(result: SandboxResult, limit: int = 1500) -> str:
    """A failed check as the node sees it: the status, then the output's last whole lines."""
    status = "timed out" if result.timed_out else f"exit code {result.returncode}"
    text = (result.stdout + ("\n" + result.stderr if result.stderr else "")).strip()
    lines = without_warnings(text.splitlines())
    return f"{status}\n{cut_lines(lines, limit)}".rstrip()
