"""The ``python`` backend: runs a short program in the sandbox and answers with its output.

The program is the last user message, or the first fenced code block in it. When the message
is not Python but holds arithmetic ("What is 17 * 23?", "16 times 15", "sixteen times
fifteen"), that arithmetic is evaluated, so the node also works as a calculator: the words are
read into an expression that may hold only numbers and arithmetic operators (checked on its
syntax tree), never any other code. Prose that is neither Python nor arithmetic makes the call
fail (:class:`~lmteams.errors.InvalidRequest`: a failed node, which does not vote) rather than
answer with a SyntaxError; a fenced program that does not compile still runs, and its reply is
the SyntaxError. A program's last bare expression is printed, as in a notebook. Runs use :func:`lmteams.sandbox.run_sandboxed`: time and memory limits, a
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

from lmteams.errors import InvalidRequest, ModelUnavailable
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.sandbox import SandboxResult, python_argv, run_sandboxed
from lmteams.sandbox_settings import SandboxLimits
from lmteams.tools.reply import last_user_message, tool_completion

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


# One string each, split: a list literal of 28 words would take 28 lines.
_UNITS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "  # noqa: SIM905
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    word: 10 * value
    for value, word in enumerate(
        "twenty thirty forty fifty sixty seventy eighty ninety".split(),  # noqa: SIM905
        start=2,
    )
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_NUMBER_RUN = re.compile(
    rf"\b(?:{_NUMBER_WORD})(?:(?:[ \t-]+(?:and[ \t]+)?)(?:{_NUMBER_WORD}))*\b", re.I
)
# Operators in words, as Python; "x" between numbers is read by _EXPRESSION itself.
_OPERATOR_WORDS = [
    (re.compile(r"\b(?:raised\s+)?to\s+the\s+power\s+of\b|\braised\s+to\b", re.I), " ** "),
    (re.compile(r"\bmultiplied\s+by\b|\btimes\b", re.I), " * "),
    (re.compile(r"\bdivided\s+by\b|\bover\b", re.I), " / "),
    (re.compile(r"\bplus\b", re.I), " + "),
    (re.compile(r"\bminus\b", re.I), " - "),
    (re.compile(r"\bmod(?:ulo)?\b", re.I), " % "),
    (re.compile(r"\s*\bsquared\b", re.I), " ** 2"),
    (re.compile(r"\s*\bcubed\b", re.I), " ** 3"),
]
_ARITHMETIC_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.UAdd,
    ast.USub,
)


def spelled_numbers(text: str) -> str:
    """``text`` with numbers written in words as digits: "twenty-one" -> "21"."""
    return _NUMBER_RUN.sub(lambda m: " ".join(map(str, _numbers(m.group(0)))), text)


def _numbers(run: str) -> list[int]:
    """The numbers in a run of number words: "one hundred and five" -> [105], "two three" -> [2, 3]."""
    found: list[int] = []
    total = current = 0
    last: str | None = None  # the kind of the previous small word: unit (0-19) or tens
    started = False
    for word in re.split(r"[\s-]+", run.lower()):
        if word in ("", "and"):
            continue
        kind = "unit" if word in _UNITS else "tens" if word in _TENS else "scale"
        # a unit after a unit, or tens after anything small, begins the next number
        if started and kind != "scale" and (last == "unit" or (kind == "tens" and last)):
            found.append(total + current)
            total = current = 0
            last = None
        started = True
        if kind == "scale":
            if word == "hundred":
                current = (current or 1) * 100
            else:
                total += (current or 1) * _SCALES[word]
                current = 0
            last = None
        else:
            current += _UNITS[word] if kind == "unit" else _TENS[word]
            last = kind
    found.append(total + current)
    return found


def is_arithmetic(expression: str) -> bool:
    """Whether ``expression`` is only numbers, parentheses and arithmetic operators."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return False
    return all(
        isinstance(node, _ARITHMETIC_NODES)
        and (not isinstance(node, ast.Constant) or type(node.value) in (int, float))
        for node in ast.walk(tree)
    )


def arithmetic_in(text: str) -> str | None:
    """The longest arithmetic expression in ``text`` as Python, or None when there is none.

    Numbers and operators may be words: "what is sixteen times fifteen?" -> "16 * 15".
    """
    text = spelled_numbers(text)
    for pattern, operator in _OPERATOR_WORDS:
        text = pattern.sub(operator, text)
    text = re.sub(r"[ \t]+", " ", text)
    best: str | None = None
    for match in _EXPRESSION.finditer(text):
        candidate = match.group(0).strip().rstrip("-+*/%(^×÷x.,").strip()
        expression = (
            candidate.replace("^", "**").replace("×", "*").replace("÷", "/").replace("x", "*")
        )
        expression = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression)  # 1,000 -> 1000
        if not re.search(r"\d\s*(\*\*|[-+*/%])\s*[-+(]*\s*\d", expression):
            continue
        if not is_arithmetic(expression):
            continue
        if best is None or len(expression) > len(best):
            best = expression
    return best


def program_for(text: str, *, calculator: bool = True) -> str:
    """The program to run for a message: its code, or ``print(<arithmetic>)``.

    A fenced block is a program even when it does not compile: it runs, and its reply is the
    SyntaxError, which is what its author needs to see. Raises
    :class:`~lmteams.errors.InvalidRequest` for prose that is neither Python nor (with
    ``calculator``) arithmetic: running it could only answer with a SyntaxError.
    """
    code = extract_code(text)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        expression = arithmetic_in(text) if calculator else None
        if expression is None and _FENCE.search(text):
            return code
        if expression is None:
            what = "Python or arithmetic" if calculator else "Python"
            raise InvalidRequest(
                f"the message is not {what}: {exc.msg} (line {exc.lineno}) in {clip(code)!r}"
            ) from None
        return f"print({expression})"
    return print_last_expression(tree) or code


def clip(text: str, width: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


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
        try:
            program = program_for(last_user_message(messages), calculator=self.options.calculator)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc), model=self.name) from None
        result = await self.run(program)
        text, finish_reason = format_result(result, self.options.sandbox)
        return tool_completion(text, started, self.name, finish_reason)


async def run_program(code: str, options: PythonToolOptions | None = None) -> SandboxResult:
    """Run ``code`` in the tool's sandbox (a shortcut for verifiers and tests)."""
    return await PythonToolBackend(options or PythonToolOptions()).run(code)
