"""Embedding answers for similarity grouping, with the model the team file names.

``consensus: {similarity: embedding, embedding_model: NAME}``: the texts go to the team's
embedding backend for that model (:meth:`~lmteams.team.Team.embedding_backend`, through the
backend interface's ``embed``), opened on first use and closed with the team. A model whose
backend cannot embed is a configuration error (:mod:`lmteams.models.embeddings`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmteams.team import Team

#: Texts in, one vector per text out.
Embedder = Callable[[Sequence[str]], Awaitable[list[list[float]]]]


def team_embedder(team: Team, model: str) -> Embedder:
    """An embedder that asks ``team``'s embedding backend for ``model``."""

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        backend = await team.embedding_backend(model)
        return await backend.embed(texts)

    return embed
