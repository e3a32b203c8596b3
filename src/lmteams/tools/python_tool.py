"""The ``python`` backend: runs a short program in the sandbox and answers with its output.

The program is the last user message, or the first fenced code block in it. When the message
is not Python but holds an arithmetic expression ("What is 17 * 23?"), that expression is
evaluated, so the node also works as a calculator. A program's last bare expression is printed,
as in a notebook. Runs use :func:`lmteams.sandbox.run_sandboxed`: time and memory limits, a
minimal environment with no secrets, no network and, where the platform allows it, a process
namespace of its own, so other processes (and their environments) cannot be seen.

Reply: on success, exactly what the program printed (finish reason ``stop``); otherwise a first
line ``error: exit code N`` or ``error: timed out after S s`` followed by the output's tail
(finish reason ``error`` or ``timeout``).
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from lmteams.errors import ModelUnavailable
from lmteams.messages import ZERO_USAGE
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.sandbox import SandboxLimits, SandboxResult, python_argv, run_sandboxed
from lmteams.tools.retrieval import last_user_message

TOOL_LIMITS = SandboxLimits(time_limit_s=10.0, memory_mb=512, output_limit_bytes=16_000)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_EXPRESSION = re.compile(r"[-+(]*\s*\d[\d\s.,_+\-*/%()^×÷x]*")


class PythonToolOptions(BaseModel):
    """Settings of a ``python`` model in a team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sandbox: SandboxLimits = Field(TOOL_LIMITS, description="Time, memory and output limits.")
    calculator: bool = Field(
        True, description="Evaluate the arithmetic in a message that is not Python."
    )


# -- from a message to a program (pure) -------------------------------------------------------


def extract_code(text: str) -> str:
    """The first Python (or unlabelled) fenced block of ``text``, else ``text`` itself.

    An unterminated fence (a reply cut at its token limit) runs to the end of the text.
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    for language, body in blocks:
        if language in ("", "python", "py", "python3"):
            return body.strip("\n")
    return blocks[0][1].strip("\n") if blocks else text.strip()


def arithmetic_in(text: str) -> str | None:
    """The longest arithmetic expression in ``text`` as Python, or None when there is none."""
    best: str | None = None
    for match in _EXPRESSION.finditer(text):
        candidate = match.group(0).strip().rstrip("-+*/%(^×÷x.,").strip()
        expression = (
            candidate.replace("^", "**").replace("×", "*").replace("÷", "/").replace("x", "*")
        )
        expression = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression)  # 1,000 -> 1000
        if not re.search(r"\d\s*(\*\*|[-+*/%])\s*[-+(]*\s*\d", expression):
            continue
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError:
            continue
        if best is None or len(expression) > len(best):
            best = expression
    return best


def program_for(text: str, *, calculator: bool = True) -> str:
    """The program to run for a message: its code, or ``print(<arithmetic>)``."""
    code = extract_code(text)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        expression = arithmetic_in(text) if calculator else None
        return f"print({expression})" if expression else code
    return print_last_expression(tree) or code


def print_last_expression(tree: ast.Module) -> str | None:
    """The program with its last bare expression printed, or None when nothing changes."""
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    value = tree.body[-1].value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "print"
    ):
        return None
    if isinstance(value, ast.Constant) and value.value is Ellipsis:
        return None
    show = ast.Expr(ast.Call(ast.Name("print", ast.Load()), [value], []))
    tree.body[-1] = ast.copy_location(show, tree.body[-1])
    return ast.unparse(ast.fix_missing_locations(tree))


def format_result(result: SandboxResult, limits: SandboxLimits) -> tuple[str, str]:
    """(reply text, finish reason) for a finished run."""
    if result.ok:
        return result.stdout, "stop"
    output = (result.stdout + ("\n" + result.stderr if result.stderr else "")).strip()
    tail = output[-4000:]
    if result.timed_out:
        return f"error: timed out after {limits.time_limit_s:g} s\n{tail}".rstrip(), "timeout"
    return f"error: exit code {result.returncode}\n{tail}".rstrip(), "error"


# -- the backend ------------------------------------------------------------------------------


class PythonToolBackend(ModelBackend):
    """Runs the program in each request; concurrent requests run as separate processes."""

    kind = "python"
    is_local = True

    def __init__(self, options: PythonToolOptions, *, name: str = "python") -> None:
        self.options = options
        self.name = name

    async def run(self, code: str) -> SandboxResult:
        """Run ``code`` as it is, under this tool's limits: for direct use in Python."""
        try:
            return await run_sandboxed(
                python_argv(), files={"main.py": code}, limits=self.options.sandbox
            )
        except OSError as exc:
            raise ModelUnavailable(f"cannot start the sandbox: {exc}", model=self.name) from exc

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        started = time.perf_counter()
        program = program_for(last_user_message(messages), calculator=self.options.calculator)
        result = await self.run(program)
        text, finish_reason = format_result(result, self.options.sandbox)
        return Completion(
            text=text,
            usage=ZERO_USAGE,  # a tool spends no model tokens
            latency_s=time.perf_counter() - started,
            finish_reason=finish_reason,
            model=self.name,
        )


async def run_program(code: str, options: PythonToolOptions | None = None) -> SandboxResult:
    """Run ``code`` in the tool's sandbox (a shortcut for verifiers and tests)."""
    return await PythonToolBackend(options or PythonToolOptions()).run(code)
