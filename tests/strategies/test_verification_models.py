"""program and gentest on a real coder model (Qwen2.5-Coder-0.5B, embedded), one question each.

Skipped where the model is not installed (`pip install lmteams[qwen-0.5b]`).
"""

from __future__ import annotations

import pytest

from lmteams.config import TeamSpec, parse_team
from lmteams.errors import LMTeamsError
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"


def coders() -> TeamSpec:
    """Two coders on one engine thread, short greedy-ish replies."""
    try:
        from lmteams.models.assembly import model_file
        from lmteams.models.catalog import catalog_model

        installed = model_file(catalog_model(MODEL)).installed
    except (ImportError, LMTeamsError) as exc:
        pytest.skip(f"{MODEL} is not known here: {exc}")
    if not installed:
        pytest.skip(f"{MODEL} is not installed")
    return parse_team(
        {
            "name": "qwen-coders",
            "models": {
                "qwen": {
                    "backend": "embedded",
                    "model": MODEL,
                    "n_threads": 1,
                    "n_parallel": 2,
                    "ctx_per_slot": 1024,
                }
            },
            "defaults": {"model": "qwen", "max_tokens": 160, "temperature": 0.2},
            "nodes": [
                {"name": "c1", "role": "coder", "seed": 1},
                {"name": "c2", "role": "coder", "seed": 2},
            ],
        },
        source="test",
    )


async def test_program_aided_product(store: EventStore) -> None:
    result = await ask(coders(), "What is 123 * 47?", store, consensus="program")
    runs = store.events(result.run_id, types=["program_run"])
    assert runs and all("program" in e.data or "problem" in e.data for e in runs)
    assert result.answer == "5781", [n.reply for n in result.nodes]


@pytest.mark.slow
async def test_generate_and_test_a_function(store: EventStore) -> None:
    question = (
        "Write a Python function `is_palindrome(s)` that returns True when the string s reads "
        "the same backwards, ignoring case.\n\n"
        '```python\nassert is_palindrome("Level")\nassert not is_palindrome("abc")\n```'
    )
    result = await ask(coders(), question, store, consensus="gentest")
    assert result.detail["passed"] >= 1, result.detail["failed"]
    assert result.answer is not None and "def is_palindrome" in result.answer
