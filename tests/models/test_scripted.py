from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from lmteams.errors import ConfigError, ModelTimeout, ModelUnavailable
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.scripted import ScriptedBackend, ScriptedOptions, ScriptedReply, load_script
from lmteams.runtime.clock import VirtualClock

CHAT = [ChatMessage("user", "What is 2 + 2?")]


async def test_table_answers_by_substring() -> None:
    backend = ScriptedBackend(options=ScriptedOptions(answers={"2 + 2": "Answer: 4"}, default="?"))
    completion = await backend.complete(CHAT, Sampling())
    assert completion.text == "Answer: 4"
    assert completion.usage.completion_tokens > 0
    assert completion.usage.prompt_tokens > 0
    other = await backend.complete([ChatMessage("user", "hello")], Sampling())
    assert other.text == "?"
    assert backend.calls == 2


async def test_callable_sees_call_index_and_prompt() -> None:
    seen = []

    def script(call):  # type: ignore[no-untyped-def]
        seen.append((call.index, call.prompt))
        return f"reply {call.index}"

    backend = ScriptedBackend(script)
    assert (await backend.complete(CHAT, Sampling())).text == "reply 0"
    assert (await backend.complete(CHAT, Sampling())).text == "reply 1"
    assert seen == [(0, "What is 2 + 2?"), (1, "What is 2 + 2?")]


async def test_script_can_raise_typed_errors() -> None:
    backend = ScriptedBackend(lambda call: ModelTimeout("slow"))
    with pytest.raises(ModelTimeout):
        await backend.complete(CHAT, Sampling())


async def test_latency_runs_in_virtual_time() -> None:
    backend = ScriptedBackend(lambda call: ScriptedReply("ok", latency_s=30.0))
    with VirtualClock() as clock:
        start = clock.time()
        completion = await backend.complete(CHAT, Sampling())
        assert clock.time() - start == pytest.approx(30.0)
    assert completion.latency_s == 30.0


async def test_concurrent_latencies_overlap_in_virtual_time() -> None:
    backend = ScriptedBackend(lambda call: "x", latency_s=5.0)
    with VirtualClock() as clock:
        await asyncio.gather(*(backend.complete(CHAT, Sampling()) for _ in range(10)))
        assert clock.time() == pytest.approx(5.0)


async def test_error_rate_is_seeded_and_deterministic() -> None:
    async def failures(seed: int) -> list[bool]:
        backend = ScriptedBackend(options=ScriptedOptions(error_rate=0.5, seed=seed))
        out = []
        for _ in range(20):
            try:
                await backend.complete(CHAT, Sampling())
                out.append(False)
            except ModelUnavailable:
                out.append(True)
        return out

    first = await failures(3)
    assert first == await failures(3)
    assert 3 < sum(first) < 17


def test_unknown_error_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown error"):
        ScriptedBackend(options=ScriptedOptions(error="gremlins"))


def test_script_reference_must_resolve() -> None:
    with pytest.raises(ConfigError, match="cannot load script"):
        load_script("lmteams.nothing:here")
    with pytest.raises(ConfigError, match="module:function"):
        load_script("no_colon")


def test_a_bad_script_is_refused_when_the_options_are_read() -> None:
    with pytest.raises(ValidationError, match="cannot load script"):
        ScriptedOptions(script="lmteams.nothing:here")


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("os:system", "part of Python or an installed package"),
        ("subprocess:run", "part of Python or an installed package"),
        ("shutil:rmtree", "part of Python or an installed package"),
        ("builtins:eval", "part of Python or an installed package"),
        ("yaml:safe_load", "part of Python or an installed package"),
        ("lmteams.testing:ScriptedCall", "not a plain function"),
        ("lmteams.testing:event_types", "exactly one argument"),
        ("lmteams.testing:project_script.x", "not a function name"),
        ("not a module:f", "not a module name"),
    ],
)
def test_unsafe_script_references_are_refused(reference: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_script(reference)


def test_script_files_load_and_their_errors_name_the_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text("def answer(call):\n    return 'Answer: 7'\n")
    (tmp_path / "broken.py").write_text("x = 1\ndef answer(call)\n    return 1\n")
    (tmp_path / "raising.py").write_text("raise RuntimeError('no config')\n")
    (tmp_path / "borrowed.py").write_text("from shutil import rmtree\n")
    assert load_script("good.py:answer")(None) == "Answer: 7"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"syntax error in .*broken\.py, line 2"):
        load_script("broken.py:answer")
    with pytest.raises(ConfigError, match="raised RuntimeError: no config"):
        load_script("raising.py:f")
    with pytest.raises(ConfigError, match="imported from shutil"):
        load_script("borrowed.py:rmtree")
    with pytest.raises(ConfigError, match="no file missing.py"):
        load_script("missing.py:f")
