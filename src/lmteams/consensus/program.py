"""Program-aided answers: a coder writes a short Python program, what it prints is its vote.

A reply holds the program in a fenced code block (the first ``python`` or unlabelled one; an
unterminated block, a reply cut at its token limit, runs to the end). A reply with no fence
counts as a program only when all of it parses as Python and calls something. The vote is the
last non-empty line the program printed; a program that fails (exit code, time limit, nothing
printed) is a failed vote, never an answer. Pure: the shell runs the program in the sandbox.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
PYTHON_LABELS = ("", "python", "py", "python3")
TAIL_CHARS = 600


def program_prompt(question: str) -> str:
    """What a coder is asked: a program that prints the answer, nothing else."""
    return (
        f"Question: {question}\n\n"
        "Write a short Python program that computes the answer to this question and prints "
        "only the final answer on its last line. Use only the standard library; read no input "
        "and no files. Reply with one ```python code block."
    )


def fix_prompt(problem: str) -> str:
    """What a coder is told when its program failed (the output's tail included)."""
    return (
        f"Your program failed: {problem}\n"
        "Reply with a corrected program in one ```python code block that prints only the "
        "final answer on its last line."
    )


def code_block(reply: str) -> str | None:
    """The program in ``reply``: its first Python (or unlabelled) fenced block, else the whole
    reply when it is Python that calls something; None when the reply holds no program."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(reply)]
    for language, body in blocks:
        if language in PYTHON_LABELS and body.strip():
            return body.strip("\n")
    if blocks:
        return None  # only blocks of another language (a shell session, JSON...)
    text = reply.strip()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    calls = any(isinstance(node, ast.Call) for node in ast.walk(tree))
    return text if calls else None


def printed_answer(stdout: str) -> str | None:
    """The last non-empty line a program printed, or None when it printed nothing."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The end of a program's output, where the error is."""
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
