from __future__ import annotations

from lmteams.consensus.program import code_block, fix_prompt, printed_answer, program_prompt, tail


def test_the_first_python_block_is_the_program() -> None:
    reply = "Here:\n```python\nprint(6 * 7)\n```\nand a test\n```python\nprint(0)\n```"
    assert code_block(reply) == "print(6 * 7)"
    assert code_block("```\nx = 2\nprint(x)\n```") == "x = 2\nprint(x)"
    assert code_block("```py\nprint(1)") == "print(1)"  # cut at the token limit


def test_a_reply_without_a_program() -> None:
    assert code_block("The answer is 42.") is None
    assert code_block("42") is None  # parses as Python, but computes nothing
    assert code_block("```bash\necho 42\n```") is None
    assert code_block("```python\n\n```") is None


def test_bare_code_that_calls_something_is_a_program() -> None:
    assert code_block("x = 6 * 7\nprint(x)") == "x = 6 * 7\nprint(x)"


def test_the_last_printed_line_is_the_vote() -> None:
    assert printed_answer("working...\n\n42\n\n") == "42"
    assert printed_answer("  \n") is None


def test_prompts_and_tails() -> None:
    assert "What is 2+2?" in program_prompt("What is 2+2?")
    assert "```python" in program_prompt("q")
    assert "ZeroDivisionError" in fix_prompt("exit code 1: ZeroDivisionError")
    assert tail("x" * 1000, 10) == "…" + "x" * 9 and tail(" ok ") == "ok"
