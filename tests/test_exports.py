from __future__ import annotations

import ast

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


def test_the_exports_are_listed_once_each_and_typed_where_they_live() -> None:
    """``__all__``, the lazy table and the imports a type checker reads name the same things."""
    from pathlib import Path

    tree = ast.parse(Path(lmteams.__file__).read_text())
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lmteams"):
            typed.update({alias.name: node.module for alias in node.names})
    table = {name: module for module, names in lmteams.EXPORTS.items() for name in names}
    assert table == typed
    assert sorted(table) == [n for n in lmteams.__all__ if n != "__version__"]
    for name, module in table.items():
        assert getattr(lmteams, name) is getattr(__import__(module, fromlist=[name]), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lmteams.nope  # noqa: B018
    assert "Team" in dir(lmteams) and "simulate" in dir(lmteams)


def loaded_after(imports: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``import {imports}``."""
    import subprocess
    import sys

    probe = f"import sys, {imports}; print([m for m in {modules!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout)


def test_importing_one_part_of_lmteams_does_not_load_the_rest() -> None:
    heavy = ("numpy", "lmteams.sim.engine", "lmteams.coordinator.run", "lmteams.strategies.ask")
    assert loaded_after("lmteams.consensus.voting, lmteams.state.store", (*heavy, "typer")) == []


def test_the_majority_fast_path_loads_no_other_strategy() -> None:
    others = ("numpy", "lmteams.strategies.learned", "lmteams.strategies.debate")
    modules = (*others, "lmteams.strategies.runners")
    assert loaded_after("lmteams.strategies.ask, lmteams.strategies.result", modules) == []
