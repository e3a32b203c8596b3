from __future__ import annotations

import asyncio
import re
import time

import pytest

from lmteams.config import parse_team
from lmteams.errors import ConfigError, InvalidRequest
from lmteams.models.base import ChatMessage, Completion, Sampling
from lmteams.models.registry import validate_options
from lmteams.sandbox import network_isolation_available, process_isolation_available
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.tools.python_tool import (
    PythonToolBackend,
    PythonToolOptions,
    arithmetic_in,
    extract_code,
    is_arithmetic,
    program_for,
    spelled_numbers,
)


def tool(**options: object) -> PythonToolBackend:
    return PythonToolBackend(PythonToolOptions.model_validate(options), name="py")


async def run(message: str, **options: object) -> Completion:
    return await tool(**options).complete(
        [ChatMessage("system", "ignored"), ChatMessage("user", message)], Sampling()
    )


def test_extract_code_prefers_python_fences() -> None:
    assert extract_code("Here:\n```python\nprint(1)\n```\nThat's it.") == "print(1)"
    assert extract_code("```bash\nls\n```\n```py\nx = 2\n```") == "x = 2"
    assert extract_code("```\nprint(3)\n```") == "print(3)"
    assert extract_code("```bash\nls -l\n```") == "ls -l"
    assert extract_code("```python\nprint(4)\nprint(5") == "print(4)\nprint(5"  # cut off
    assert extract_code("  print(6)\n") == "print(6)"


def test_arithmetic_is_found_in_prose() -> None:
    assert arithmetic_in("What is 17 + 25?") == "17 + 25"
    assert arithmetic_in("Compute 2^10 - (3 × 4), please") == "2**10 - (3 * 4)"
    assert arithmetic_in("What is 1,000 * 3?") == "1000 * 3"
    assert arithmetic_in("Tell me about 1984.") is None
    assert arithmetic_in("no numbers") is None


def test_program_for_prints_the_last_expression() -> None:
    assert program_for("x = 6\nx * 7") == "x = 6\nprint(x * 7)"
    assert program_for("print('hi')") == "print('hi')"
    assert program_for("import math") == "import math"
    assert program_for("What is 6 * 7?") == "print(6 * 7)"


@pytest.mark.parametrize(
    ("message", "expression"),
    [
        ("16 times 15", "16 * 15"),
        ("What is 16 times 15?", "16 * 15"),
        ("16 x 15", "16 * 15"),
        ("sixteen times fifteen", "16 * 15"),
        ("What is twenty-one plus one hundred and five?", "21 + 105"),
        ("What is 100 divided by 4?", "100 / 4"),
        ("seventeen minus three thousand two hundred", "17 - 3200"),
        ("two to the power of ten", "2 ** 10"),
        ("What is 12 squared plus 1?", "12 ** 2 + 1"),
        ("7 multiplied by 6", "7 * 6"),
        ("10 mod 4", "10 % 4"),
    ],
)
def test_arithmetic_in_words(message: str, expression: str) -> None:
    assert arithmetic_in(message) == expression
    assert program_for(message) == f"print({expression})"


def test_only_numbers_and_operators_count_as_arithmetic() -> None:
    assert is_arithmetic("2 ** 10 - (3 * 4) / -1.5 % 7 // 2")
    for code in ("__import__('os').system('id')", "x * 2", "'a' * 3", "[1] * 3", "abs(-1)"):
        assert not is_arithmetic(code), code
    assert spelled_numbers("one two three") == "1 2 3"  # three numbers, not 123 or 6
    assert arithmetic_in("one two three") is None


@pytest.mark.parametrize(
    ("message", "calculator", "problem"),
    [
        ("Tell me a story about a dragon.", True, "the message is not Python or arithmetic"),
        ("What is 6 * 7?", False, "the message is not Python:"),
        ("print(6 * 7", True, "'(' was never closed (line 1)"),  # unfenced: taken as prose
    ],
)
def test_a_message_that_is_neither_python_nor_arithmetic_is_refused(
    message: str, calculator: bool, problem: str
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(problem)):
        program_for(message, calculator=calculator)


async def test_runs_a_program_and_answers_with_its_output() -> None:
    completion = await run("```python\nfor i in range(3):\n    print(i * i)\n```")
    assert completion.text == "0\n1\n4\n" and completion.finish_reason == "stop"
    assert completion.usage.total_tokens == 0 and completion.model == "py"


async def test_works_as_a_calculator() -> None:
    assert (await run("What is 17 * 23 + 1?")).text == "392\n"
    assert (await run("sum(range(101))")).text == "5050\n"
    assert (await run("What is 16 times 15?")).text == "240\n"


async def test_a_fenced_program_that_does_not_compile_runs_and_shows_its_syntax_error() -> None:
    assert program_for("```python\nprint(6 * 7\n```") == "print(6 * 7"
    completion = await run("Here it is:\n```python\nprint(6 * 7\n```")
    assert completion.finish_reason == "error" and "SyntaxError" in completion.text


async def test_a_message_it_cannot_run_fails_the_call() -> None:
    with pytest.raises(InvalidRequest) as info:
        await run("What is sixteen times many?")
    assert info.value.model == "py" and "not Python or arithmetic" in str(info.value)


async def test_a_failing_program_reports_its_error() -> None:
    completion = await run("```python\nprint('before')\n1 / 0\n```")
    assert completion.finish_reason == "error"
    assert completion.text.startswith("error: exit code 1\nbefore\n")
    assert "ZeroDivisionError" in completion.text


async def test_a_program_that_runs_too_long_is_stopped() -> None:
    started = time.perf_counter()
    completion = await run(
        "print('started', flush=True)\nwhile True:\n    pass", sandbox={"time_limit_s": 1}
    )
    assert time.perf_counter() - started < 10
    assert completion.finish_reason == "timeout"
    assert completion.text.startswith("error: timed out after 1 s")


async def test_a_program_that_wants_too_much_memory_is_stopped() -> None:
    completion = await run(
        "data = bytearray(1024 * 1024 * 1024)\nprint('allocated')", sandbox={"memory_mb": 256}
    )
    assert completion.finish_reason == "error"
    assert "allocated" not in completion.text and "MemoryError" in completion.text


SNOOP = """
import glob, os
print(sorted(os.environ))
print(os.environ.get("OPENAI_API_KEY"), os.environ.get("MY_TOKEN"))
leaks = 0
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try:
        with open(path, "rb") as f:
            data = f.read()
        leaks += b"sk-live-123" in data or b"hunter2" in data
    except OSError:
        pass
print("leaks", leaks)
"""


async def test_a_program_sees_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-123")
    monkeypatch.setenv("MY_TOKEN", "hunter2")
    completion = await run(SNOOP)
    assert completion.finish_reason == "stop", completion.text
    assert "sk-live-123" not in completion.text and "hunter2" not in completion.text
    assert "OPENAI_API_KEY" not in completion.text and "None None" in completion.text
    if process_isolation_available():
        # not even through another process's /proc/<pid>/environ (this test process has them)
        assert "leaks 0" in completion.text


async def test_a_program_runs_as_pid_one_of_its_own_namespace() -> None:
    if not process_isolation_available():
        pytest.skip("no process namespaces here")
    completion = await run(
        "import os; print(os.getpid(), [p for p in os.listdir('/proc') if p.isdigit()])"
    )
    assert completion.text == "1 ['1']\n"


@pytest.mark.skipif(not network_isolation_available(), reason="no network namespaces here")
async def test_a_program_has_no_network() -> None:
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 53))\n    print('connected')\n"
        "except OSError:\n    print('blocked')"
    )
    assert (await run(code)).text == "blocked\n"


async def test_concurrent_programs_run_side_by_side() -> None:
    python = tool()
    replies = await asyncio.gather(
        *(python.complete([ChatMessage("user", f"print({i} * 2)")], Sampling()) for i in range(4))
    )
    assert [r.text for r in replies] == ["0\n", "2\n", "4\n", "6\n"]


def test_bad_options_name_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        validate_options("python", {"sandbox": {"time_limit_s": 0}})
    assert info.value.field == "sandbox.time_limit_s"
    with pytest.raises(ConfigError) as info:
        validate_options("python", {"timeout": 3})
    assert info.value.field == "timeout"


async def test_ask_a_python_node(store: EventStore) -> None:
    spec = parse_team(
        {
            "models": {"py": {"backend": "python"}},
            "nodes": [{"name": "calc", "role": "calculator", "model": "py"}],
        },
        source="t.yaml",
    )
    result = await ask(spec, "What is 17 + 25?", store)
    assert result.answer == "42" and result.nodes[0].reply == "42\n"
    messages = store.events(result.run_id, types=["message"])
    assert [m.node for m in messages] == ["coordinator", "calc"]
    words = await ask(spec, "what is 16 times 15?", store)
    assert words.answer == "240"
    # not a SyntaxError voted in as the answer ("1 of 1 nodes agree"): a failed node
    refused = await ask(spec, "Who wrote Hamlet?", store)
    assert refused.answer is None and refused.valid_votes == 0
    assert refused.nodes[0].status == "failed" and "not Python" in (refused.nodes[0].error or "")
