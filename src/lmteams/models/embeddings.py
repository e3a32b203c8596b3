"""The backend that embeds texts for a team: a model of ``models:`` whose backend can embed.

``consensus: {similarity: embedding, embedding_model: NAME}`` names the model. An ``embedded``
GGUF file is loaded in llama.cpp's embedding mode, an ``openai`` endpoint is asked through its
``/embeddings`` route, and a ``scripted`` model answers from its ``embeddings`` table; a backend
that cannot embed (:attr:`~lmteams.models.base.ModelBackend.can_embed` False) is a
configuration error, reported before any text is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.models.registry import create_backend, validate_options

if TYPE_CHECKING:
    from lmteams.config import TeamSpec

FIELD = "consensus.embedding_model"


async def open_embedding_backend(
    spec: TeamSpec, model_name: str, overrides: Mapping[str, ModelBackend] | None = None
) -> tuple[ModelBackend, bool]:
    """(the backend that embeds with ``model_name``, whether the caller owns it and must close
    it). A backend of ``overrides`` under that name is used as it is (its owner closes it)."""
    if model_name not in spec.models:
        raise ConfigError(
            f"unknown model {model_name!r}; defined: {', '.join(spec.models)}", field=FIELD
        )
    if overrides and model_name in overrides:
        backend, owned = overrides[model_name], False
    else:
        model = spec.models[model_name]
        try:
            options = validate_options(model.backend, dict(model.options))
            backend, owned = create_backend(model.backend, options, model_name), True
        except ConfigError as exc:
            raise exc.under(f"models.{model_name}") from None
    if not backend.can_embed:
        if owned:
            await backend.aclose()
        raise ConfigError(
            f"model {model_name!r} ({backend.kind}) cannot embed; "
            "use a model whose backend can (embedded, openai, scripted)",
            field=FIELD,
        )
    return backend, owned
