"""Where each model of a team lives under Ray, decided in the driver before any actor starts.

* **served**: an engine that must exist once per machine (the embedded model) runs in one
  model-server actor per machine, shared by the node hosts there;
* **built**: any other configured backend (an OpenAI-compatible endpoint, a tool) is built
  inside each node host from options resolved here;
* **copied**: a backend object passed as an override (a scripted test model) is pickled into
  every node host, so each host holds its own copy with its own counters.

No Ray import here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.models.registry import validate_options

#: Backend kinds whose engine lives once per machine, in a model-server actor.
SERVED_KINDS = frozenset({"embedded"})


@dataclass(slots=True)
class ModelHomes:
    served: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    built: dict[str, tuple[str, BaseModel]] = field(default_factory=dict)
    copied: dict[str, ModelBackend] = field(default_factory=dict)


def model_homes(team: TeamSpec, overrides: Mapping[str, ModelBackend] | None) -> ModelHomes:
    """Sort the models the team's nodes use; raises ConfigError for invalid model settings.

    An override that is an embedded backend is served like a configured embedded model.
    """
    homes = ModelHomes()
    overrides = overrides or {}
    for model in dict.fromkeys(team.model_of(node) for node in team.nodes):
        backend = overrides.get(model)
        if backend is not None:
            options = getattr(backend, "options", None)
            if backend.kind in SERVED_KINDS and isinstance(options, BaseModel):
                homes.served[model] = (backend.kind, options.model_dump(mode="json"))
            else:
                homes.copied[model] = backend
            continue
        spec = team.models[model]
        try:
            options = validate_options(spec.backend, spec.options)
        except ConfigError as exc:
            raise exc.under(f"models.{model}") from None
        if spec.backend in SERVED_KINDS:
            homes.served[model] = (spec.backend, spec.options)
        else:
            homes.built[model] = (spec.backend, portable_options(spec.backend, options))
    return homes


def portable_options(kind: str, options: BaseModel) -> BaseModel:
    """``options`` with what this process's environment supplies made explicit.

    Node hosts on other machines do not share the driver's environment: an ``openai`` model's
    endpoint, model name and key (read from variables here, as the local runtime would) travel
    inside the actors' creation arguments, never in the event log.
    """
    if kind != "openai":
        return options
    values = options.model_dump()
    values["base_url"] = (
        values.get("base_url")
        or os.environ.get("LMTEAMS_OPENAI_BASE_URL")
        or os.environ.get("OPENAI_BASE_URL")
    )
    values["model"] = values.get("model") or os.environ.get("LMTEAMS_OPENAI_MODEL")
    key = getattr(options, "api_key", None)
    env_key = os.environ.get(str(values.get("api_key_env") or ""))
    values["api_key"] = (key if isinstance(key, SecretStr) else None) or (
        SecretStr(env_key) if env_key else None
    )
    return type(options).model_validate(values)
