"""Consensus settings: the ``consensus:`` section of a team file, overridden by flags.

    consensus:
      strategy: judge          # what `lmteams ask` uses without --consensus
      judge: checker           # the judge node (default: a node with role "judge", else the first)
      similarity: tokens       # group free-text answers: exact | edit | tokens | embedding
      rounds: 2                # debate revision rounds
      faults: 1                # quorum: tolerated faulty nodes (default: as many as n allows)
      coders: [coder]          # program / gentest: the nodes that write code
      route_width: 2           # routed: nodes per wave, the kind's best first
      answer_format: json      # first answers as {"answer": ...}, schema-constrained

Validated once, with the team (node and model names must exist). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lmteams.consensus.catalog import STRATEGIES
from lmteams.errors import ConfigError


class ConsensusSpec(BaseModel):
    """How a team reaches one answer. Every field has a sane default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str = Field("majority", description="Default strategy for `lmteams ask`.")
    similarity: Literal["exact", "edit", "tokens", "embedding"] = Field(
        "exact", description="How free-text answers are grouped before voting."
    )
    threshold: float | None = Field(
        None, gt=0.0, le=1.0, description="Similarity needed to share a group."
    )
    embedding_model: str | None = Field(
        None, description="Model (of `models:`) that embeds answers for similarity: embedding."
    )
    judge: str | None = Field(None, description="Judge / aggregator node for judge and moa.")
    judge_retries: int = Field(1, ge=0, le=5, description="Retries after an invalid verdict.")
    judge_max_tokens: int = Field(96, ge=16, le=4096)
    judge_contradiction: Literal["refuse", "choice", "answer"] = Field(
        "refuse",
        description="A verdict whose choice and stated answer differ: refused and asked again "
        "(counts as a retry), read by its choice, or read by its answer.",
    )
    rounds: int = Field(2, ge=0, le=20, description="Debate revision rounds after the first.")
    layers: int = Field(2, ge=1, le=8, description="Mixture-of-agents proposer layers.")
    faults: int | None = Field(None, ge=0, le=1000, description="Quorum: faulty nodes (f).")
    wave: int = Field(1, ge=1, le=4096, description="Adaptive: nodes asked per later wave.")
    stop_confidence: float | None = Field(
        None, ge=0.5, lt=1.0, description="Adaptive: also stop once this sure of the leader."
    )
    tiers: tuple[str, ...] = Field(
        (), description="Cascade: model names, cheapest first (default: by price)."
    )
    node: str | None = Field(None, description="The node for single and greedy.")
    history: int = Field(5000, ge=10, le=1_000_000, description="Learned: questions kept.")
    seed: int = Field(0, description="Seeds the judge's shuffle.")
    coders: tuple[str, ...] = Field(
        (),
        description="Program / gentest: the nodes that write code (default: nodes whose role "
        "or skills name code, else every node on a model backend).",
    )
    program_retries: int = Field(
        1, ge=0, le=5, description="Program: times a failed program is sent back to be fixed."
    )
    run_time_limit_s: float = Field(
        10.0, gt=0, le=600, description="Program / gentest: wall-clock limit of each run."
    )
    candidates: int | None = Field(
        None, ge=1, le=64, description="Gentest: candidate programs (default: one per coder)."
    )
    test_inputs: int = Field(
        5, ge=0, le=50, description="Gentest: inputs the team writes to compare candidates."
    )
    route_width: int = Field(
        2, ge=1, le=4096, description="Routed: nodes per wave (the first: the kind's best)."
    )
    route_min_labels: int = Field(
        5,
        ge=0,
        le=100_000,
        description="Routed: labeled answers of a kind a node needs before it is routed; "
        "until then every node answers that kind.",
    )
    route_margin: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Routed: nodes this close to the best accuracy count as equally good "
        "(the cheapest of them is asked first).",
    )

    answer_format: Literal["text", "json"] = Field(
        "text",
        description="First answers: free text read by the extraction rules, or json: "
        '{"answer": ...}, constrained by a schema of the question\'s kind (number, yes/no, '
        "letter, short text) where the backend can, read JSON-first with the text rules "
        "as fallback.",
    )
    answer_schema: dict[str, Any] | None = Field(
        None,
        description="answer_format json: the JSON schema of a first answer instead of the "
        "question kind's (an object schema with an `answer` property).",
    )

    @field_validator("answer_schema")
    @classmethod
    def _answer_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        properties = value.get("properties")
        if value.get("type") != "object" or not isinstance(properties, dict):
            raise ValueError('must be an object schema: {"type": "object", "properties": ...}')
        if not isinstance(properties.get("answer"), dict):
            raise ValueError("must have an `answer` property (a schema of its own)")
        return value

    @model_validator(mode="after")
    def _schema_needs_json(self) -> Self:
        if self.answer_schema is not None and self.answer_format != "json":
            raise ValueError("answer_schema needs answer_format: json")
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; one of: {', '.join(STRATEGIES)}")
        return value

    def check_team(self, nodes: Sequence[str], models: Sequence[str], *, prefix: str = "") -> None:
        """Raise :class:`ConfigError` if a named node or model does not exist in the team."""
        for field in ("judge", "node"):
            value = getattr(self, field)
            if value is not None and value not in nodes:
                raise ConfigError(
                    f"unknown node {value!r}; team has: {', '.join(nodes)}", field=prefix + field
                )
        for coder in self.coders:
            if coder not in nodes:
                raise ConfigError(
                    f"unknown node {coder!r}; team has: {', '.join(nodes)}",
                    field=prefix + "coders",
                )
        for model in (self.embedding_model, *self.tiers):
            if model is not None and model not in models:
                raise ConfigError(
                    f"unknown model {model!r}; defined: {', '.join(models)}",
                    field=prefix + ("tiers" if model in self.tiers else "embedding_model"),
                )
        if self.similarity == "embedding" and self.embedding_model is None:
            raise ConfigError(
                "similarity: embedding needs embedding_model (a model of `models:`)",
                field=prefix + "embedding_model",
            )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """These settings with flag values on top (None means "not given"), validated."""
        update = {k: v for k, v in overrides.items() if v is not None}
        if not update:
            return self
        try:
            return type(self).model_validate({**self.model_dump(exclude_unset=True), **update})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ConfigError(message, field=f"--{where.replace('_', '-')}") from None
