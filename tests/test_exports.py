from __future__ import annotations

import lmteams


def test_all_is_sorted_and_complete() -> None:
    assert lmteams.__all__ == sorted(lmteams.__all__)
    for name in lmteams.__all__:
        assert hasattr(lmteams, name), name


def test_public_errors_share_one_root() -> None:
    for name in lmteams.__all__:
        obj = getattr(lmteams, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, lmteams.LMTeamsError), name


def test_transient_and_permanent_errors_are_distinguished() -> None:
    assert lmteams.ModelTimeout("x").transient
    assert lmteams.RateLimited("x", retry_after_s=2).retry_after_s == 2
    assert not lmteams.InvalidRequest("x").transient
    assert "node a" in str(lmteams.ModelUnavailable("down", node="a"))


def test_ask_and_run_project_block_and_their_async_forms_await() -> None:
    import inspect

    from lmteams.coordinator.run import run_project
    from lmteams.strategies.ask import ask

    assert lmteams.ask_async is ask and lmteams.run_project_async is run_project
    assert not inspect.iscoroutinefunction(lmteams.ask)
    assert not inspect.iscoroutinefunction(lmteams.run_project)
