"""The Qwen2.5-Coder-0.5B embedded model, for real (installed by `make install`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from lmteams.config import parse_team
from lmteams.models import embedded
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.catalog import CATALOG
from lmteams.models.embedded import (
    EmbeddedBackend,
    EmbeddedOptions,
    available_cores,
    close_all_engines,
)
from lmteams.models.threads import split_cores
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask

pytestmark = pytest.mark.model

QWEN = "qwen2.5-coder-0.5b"

TEAM = f"""
name: qwen-pair
models:
  qwen: {{backend: embedded, model: {QWEN}, n_parallel: 2, ctx_per_slot: 1024}}
defaults: {{model: qwen, max_tokens: 48, temperature: 0.0}}
nodes:
  - {{name: solver, role: solver, seed: 1,
     system_prompt: 'Answer briefly. End with one line "Answer: <answer>".'}}
  - {{name: checker, role: critic, seed: 2,
     system_prompt: 'Check carefully, then end with one line "Answer: <answer>".'}}
"""


@pytest.fixture
def fresh_engines() -> Iterator[None]:
    close_all_engines()
    yield
    close_all_engines()


async def test_a_team_naming_qwen_answers_a_question(store: EventStore) -> None:
    spec = parse_team(yaml.safe_load(TEAM), source="qwen team")
    result = await ask(spec, "What is 17 + 25?", store)
    assert result.answer == "42", [n.model_dump() for n in result.nodes]
    assert result.agreement == 1.0
    assert result.calls == 2 and result.completion_tokens > 0


async def test_qwen_file_is_assembled_verified_and_obeys_a_json_schema(
    fresh_engines: None,
) -> None:
    backend = EmbeddedBackend(EmbeddedOptions(model=QWEN, n_parallel=1, ctx_per_slot=1024))
    assert backend.engine.key.path.endswith(CATALOG[QWEN].file_name)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    completion = await backend.complete(
        [ChatMessage("user", "Which city is the capital of France? Reply in JSON.")],
        Sampling(temperature=0.0, max_tokens=24, json_schema=schema),
    )
    assert '"city"' in completion.text and "paris" in completion.text.lower()


async def test_engines_of_one_process_split_the_cores(
    fresh_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMTEAMS_N_THREADS", raising=False)
    monkeypatch.setattr(embedded, "load_average", lambda: 0.0)  # a quiet machine
    small = EmbeddedBackend(EmbeddedOptions(n_parallel=1, ctx_per_slot=512))
    qwen = EmbeddedBackend(EmbeddedOptions(model=QWEN, n_parallel=1, ctx_per_slot=512))
    # Both backends exist before either engine loads, as when a team starts.
    await small.check_ready()
    await qwen.check_ready()
    assert (small.engine.n_threads, qwen.engine.n_threads) == split_cores(available_cores(), 2)


async def test_the_environment_sets_threads_per_engine(
    fresh_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMTEAMS_N_THREADS", "1")
    backend = EmbeddedBackend(EmbeddedOptions(model=QWEN, n_parallel=1, ctx_per_slot=512))
    await backend.check_ready()
    assert backend.engine.n_threads == 1


async def test_a_busy_machine_gets_one_thread_per_engine(
    fresh_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMTEAMS_N_THREADS", raising=False)
    monkeypatch.setattr(embedded, "load_average", lambda: float(available_cores()))
    backend = EmbeddedBackend(EmbeddedOptions(model=QWEN, n_parallel=1, ctx_per_slot=512))
    await backend.check_ready()
    assert backend.engine.n_threads == 1
