from __future__ import annotations

import pytest

from lmteams.errors import ConfigError
from lmteams.models.registry import backend_types, create_backend, validate_options
from lmteams.models.scripted import ScriptedBackend


def test_builtin_kinds_are_registered() -> None:
    kinds = backend_types()
    assert {"embedded", "openai", "scripted"} <= set(kinds)


def test_create_scripted_from_options() -> None:
    options = validate_options("scripted", {"default": "Answer: 7"})
    backend = create_backend("scripted", options, "m")
    assert isinstance(backend, ScriptedBackend)
    assert backend.name == "m"


def test_unknown_kind_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: .*embedded"):
        validate_options("nope", {})


def test_option_error_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        validate_options("embedded", {"ctx_per_slot": 1})
    assert info.value.field == "ctx_per_slot"
