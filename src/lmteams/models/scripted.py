"""Scripted models: deterministic answers, latencies and failures, for tests and benchmarks.

A scripted model is driven by a table (question text -> answer) or by a Python callable that
receives the call and returns the reply text, a :class:`ScriptedReply`, or an exception to
raise. Latencies are awaited with ``asyncio.sleep`` so they run in virtual time under
:class:`~lmteams.runtime.clock.VirtualClock`. Never the default for a user.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import random
import re
import sys
import sysconfig
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from lmteams.errors import MODEL_ERRORS, ConfigError
from lmteams.frozen import quick_init
from lmteams.messages import Usage
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling, current_node


@quick_init
@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """What a script sees of one call."""

    messages: Sequence[ChatMessage]
    sampling: Sampling
    index: int  # 0-based count of calls this backend has received
    node: str | None

    @property
    def prompt(self) -> str:
        """The last user message, which is what most scripts answer."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    text: str
    latency_s: float | None = None
    completion_tokens: int | None = None
    token_logprobs: tuple[float, ...] | None = None


Script = Callable[[ScriptedCall], "str | ScriptedReply | BaseException"]


class ScriptedOptions(BaseModel):
    """Settings of a ``scripted`` model in a team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: dict[str, str] = Field(
        default_factory=dict, description="Reply to any prompt containing the key."
    )
    default: str = Field("Answer: 42", description="Reply when no key matches.")
    script: str | None = Field(
        None,
        description="'module:function' or 'path/to/file.py:function' taking a ScriptedCall.",
    )
    latency_s: float = Field(0.0, ge=0.0, le=3600.0)
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    error: str = Field(
        "unavailable", description=f"Error raised at error_rate: {sorted(MODEL_ERRORS)}"
    )
    seed: int = 0
    embeddings: dict[str, list[float]] = Field(
        default_factory=dict,
        description="Vector of each text `embed` is asked for; any other text gets a hashed "
        "bag of its words.",
    )

    @field_validator("script")
    @classmethod
    def _loadable(cls, reference: str | None) -> str | None:
        # Loaded here, so a bad script is reported with the team file and field at load time.
        if reference is not None:
            try:
                load_script(reference)
            except ConfigError as exc:
                raise PydanticCustomError("script", "{problem}", {"problem": exc.problem}) from None
        return reference


BAG_DIMENSIONS = 64


def bag_of_words(text: str) -> list[float]:
    """A deterministic stand-in for an embedding: each word hashed into one of
    :data:`BAG_DIMENSIONS` counts (texts sharing words point the same way)."""
    vector = [0.0] * BAG_DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        vector[zlib.crc32(word.encode()) % BAG_DIMENSIONS] += 1.0
    return vector


def _count_tokens(text: str) -> int:
    # A rough, deterministic stand-in for a tokenizer: about four characters per token.
    return max(1, (len(text) + 3) // 4)


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_FUNCTION = re.compile(r"^[A-Za-z_]\w*$")


def _installed(top: str) -> bool:
    """Whether top-level module ``top`` is Python's own or an installed package (not lmteams).

    Decided from where the module would load from, without importing (running) it.
    """
    if top == "lmteams":
        return False
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False  # importing it will say what is wrong
    if spec is None:
        return False
    if spec.origin in ("built-in", "frozen"):
        return True
    where = [spec.origin or "", *(spec.submodule_search_locations or [])]
    paths = sysconfig.get_paths()
    roots = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(
        Path(place).resolve().is_relative_to(root) for place in where if place for root in roots
    )


def _import(module_name: str, reference: str) -> ModuleType:
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ConfigError(f"script {reference!r}: no file {module_name}")
        name = f"lmteams_script_{abs(hash(str(path.resolve())))}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"script {reference!r}: cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    if not _MODULE.match(module_name):
        raise ConfigError(f"script {reference!r}: {module_name!r} is not a module name")
    if _installed(module_name.partition(".")[0]):
        raise ConfigError(
            f"script {reference!r}: {module_name!r} is part of Python or an installed package; "
            "a script must be a function of your own module or .py file"
        )
    return importlib.import_module(module_name)


def load_script(reference: str) -> Script:
    """The function a ``script:`` reference names, after checking that it is safe to call.

    Allowed: a plain Python function, defined in the named module (not imported into it), that
    takes one argument; the module is a ``.py`` file (relative to the current directory) or a
    module of your own on ``sys.path``, never one of Python's or an installed package's (so not
    ``os:system``). Any failure while importing it, a syntax error included, is one ConfigError.
    """
    module_name, _, attr = reference.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(f"script must look like 'module:function', got {reference!r}")
    if not _FUNCTION.match(attr):
        raise ConfigError(f"script {reference!r}: {attr!r} is not a function name")
    try:
        module = _import(module_name, reference)
    except ConfigError:
        raise
    except SyntaxError as exc:
        where = f"{exc.filename or module_name}, line {exc.lineno}"
        raise ConfigError(f"script {reference!r}: syntax error in {where}: {exc.msg}") from None
    except ImportError as exc:
        raise ConfigError(f"cannot load script {reference!r}: {exc}") from None
    except Exception as exc:  # the module's own code failed while importing
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"cannot load script {reference!r}: importing it raised {type(exc).__name__}"
            + (f": {detail}" if detail else "")
        ) from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise ConfigError(f"cannot load script {reference!r}: {module_name} has no {attr!r}")
    if not inspect.isfunction(fn):
        raise ConfigError(
            f"script {reference!r} is not a plain function ({type(fn).__name__}); "
            "define one taking the call"
        )
    if fn.__module__ != module.__name__:
        raise ConfigError(
            f"script {reference!r}: {attr} is imported from {fn.__module__}; "
            "a script must be defined in the module it names"
        )
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        raise ConfigError(
            f"script {reference!r} must take exactly one argument (the call)"
        ) from None
    return fn


class ScriptedBackend(ModelBackend):
    """A model whose every reply, delay and failure is decided by a script."""

    kind = "scripted"
    can_logprobs = True
    can_embed = True
    is_local = True

    def __init__(
        self,
        script: Script | None = None,
        *,
        options: ScriptedOptions | None = None,
        name: str = "scripted",
        latency_s: float | Callable[[ScriptedCall], float] | None = None,
    ) -> None:
        self.options = options or ScriptedOptions()
        self.name = name
        if self.options.error not in MODEL_ERRORS:
            raise ConfigError(
                f"unknown error {self.options.error!r}; one of {sorted(MODEL_ERRORS)}"
            )
        if script is None and self.options.script:
            script = load_script(self.options.script)
        self._script = script
        self._latency = self.options.latency_s if latency_s is None else latency_s
        self._rng = random.Random(self.options.seed)
        self.calls = 0
        self.embedded: list[list[str]] = []  # the texts of each embed call, in order

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded.append(list(texts))
        table = self.options.embeddings
        return [list(table[t]) if t in table else bag_of_words(t) for t in texts]

    def _reply_for(self, call: ScriptedCall) -> str | ScriptedReply | BaseException:
        if self._script is not None:
            return self._script(call)
        prompt = call.prompt
        for key, answer in self.options.answers.items():
            if key in prompt:
                return answer
        return self.options.default

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        call = ScriptedCall(messages, sampling, self.calls, current_node.get())
        self.calls += 1
        reply = self._reply_for(call)
        latency = self._latency
        if latency.__class__ is not float:  # a callable, or an int from a caller
            latency = latency(call) if callable(latency) else float(latency)
        scripted = reply if isinstance(reply, ScriptedReply) else None
        if scripted is not None and scripted.latency_s is not None:
            latency = scripted.latency_s
        if latency > 0:
            await asyncio.sleep(latency)
        if isinstance(reply, BaseException):
            raise reply
        if self.options.error_rate and self._rng.random() < self.options.error_rate:
            raise MODEL_ERRORS[self.options.error](
                f"scripted {self.options.error}", model=self.name
            )
        text: str = scripted.text if scripted is not None else reply  # type: ignore[assignment]
        completion_tokens = _count_tokens(text)
        logprobs = None
        if scripted is not None:
            logprobs = scripted.token_logprobs
            if scripted.completion_tokens is not None:
                completion_tokens = scripted.completion_tokens
        prompt_chars = 0
        for message in messages:  # a loop, not sum() over a generator: once per call
            prompt_chars += len(message.content)
        prompt_tokens = max(1, (prompt_chars + 3) // 4)
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            latency_s=latency,
            finish_reason="stop",
            model=self.name,
            token_logprobs=logprobs,
        )


def from_options(options: ScriptedOptions, *, name: str = "scripted") -> ScriptedBackend:
    """Registry constructor: a scripted model configured from a team file."""
    return ScriptedBackend(options=options, name=name)


def scripted_from(fn: Callable[[ScriptedCall], Any], **kwargs: Any) -> ScriptedBackend:
    """Turn a plain function into a model (like httpx's MockTransport)."""
    return ScriptedBackend(fn, **kwargs)
