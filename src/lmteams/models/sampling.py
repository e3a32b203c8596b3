"""Sampling settings of one model call (a leaf: pydantic only, so that config can use it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Sampling(BaseModel):
    """Sampling settings for one call. ``seed`` makes a sampled call repeatable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    json_schema: dict[str, Any] | None = None
