"""The synchronous facade: lmteams.ask and lmteams.run_project from plain code and from
inside a running event loop (a notebook), beside the async API."""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

import lmteams
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.state.store import EventStore
from lmteams.sync import run_sync
from lmteams.testing import ScriptedCall, project_script, scripted_team

from .export.scenarios import PROJECT


def answering(threads: list[str]):  # type: ignore[no-untyped-def]
    def script(call: ScriptedCall) -> str:
        threads.append(threading.current_thread().name)
        return "Answer: 4"

    return script


def test_ask_from_plain_code_returns_the_result(store: EventStore) -> None:
    threads: list[str] = []
    spec, backends = scripted_team(3, answering(threads))
    result = lmteams.ask(spec, "What is 2 + 2?", store, backends=backends)
    assert isinstance(result, lmteams.AskResult) and result.answer == "4"
    assert threads == [threading.current_thread().name] * 3  # no worker thread needed
    assert store.run(result.run_id).status == "done"


async def test_ask_inside_a_running_loop_runs_on_a_loop_of_its_own(store: EventStore) -> None:
    threads: list[str] = []
    spec, backends = scripted_team(3, answering(threads))
    outer = asyncio.get_running_loop()
    result = lmteams.ask(spec, "What is 2 + 2?", store, backends=backends)
    assert result.answer == "4" and result.agreement == 1.0
    assert len(threads) == 3 and all(t.startswith("lmteams-sync") for t in threads)
    assert asyncio.get_running_loop() is outer  # the caller's loop is untouched, still usable
    await asyncio.sleep(0)


def test_run_project_from_plain_code(store: EventStore) -> None:
    spec, backends = scripted_team(2, project_script)
    project = PROJECT
    result = lmteams.run_project(spec, project, store, RunSettings(workers=2), backends=backends)
    assert isinstance(result, lmteams.RunResult) and result.status == "done"


async def test_run_project_inside_a_running_loop(store: EventStore) -> None:
    spec, backends = scripted_team(2, project_script)
    project = PROJECT
    result = lmteams.run_project(spec, project, store, RunSettings(workers=2), backends=backends)
    assert result.status == "done" and set(result.tasks.values()) == {"done"}


async def test_errors_cross_the_worker_thread_unchanged(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda call: "x")
    with pytest.raises(ConfigError, match="question"):
        lmteams.ask(spec, "   ", store, backends=backends)


async def test_the_async_api_is_kept_under_its_own_names(store: EventStore) -> None:
    assert inspect.iscoroutinefunction(lmteams.ask_async)
    assert inspect.iscoroutinefunction(lmteams.run_project_async)
    assert not inspect.iscoroutinefunction(lmteams.ask)
    assert inspect.signature(lmteams.ask) == inspect.signature(lmteams.ask_async)
    spec, backends = scripted_team(2, lambda call: "Answer: 7")
    result = await lmteams.ask_async(spec, "q", store, backends=backends)
    assert result.answer == "7"


def test_run_sync_gives_back_what_the_coroutine_returns() -> None:
    async def seven() -> int:
        await asyncio.sleep(0)
        return 7

    assert run_sync(seven) == 7
