"""Team specs: which models exist, which nodes use them, with what roles and prompts.

A team file is YAML validated once, at the edge, by these pydantic models. Every problem is
reported as one :class:`~lmteams.errors.ConfigError` of the form ``file: field: problem``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lmteams.consensus.settings import ConsensusSpec
from lmteams.errors import ConfigError
from lmteams.faults.config import BudgetSpec, FaultsSpec, ResilienceSpec, check_references
from lmteams.indexed import IndexedModel
from lmteams.limits import MAX_TEXT_CHARS, load_yaml, read_text
from lmteams.models.sampling import Sampling
from lmteams.routing.settings import RoleConfig
from lmteams.runtime.ray.settings import RaySettings

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
DEFAULT_TEAM = "default"


class Prices(BaseModel):
    """Price of a model in currency units per million tokens (for budgets and cost reports)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6


class ModelSpec(BaseModel):
    """One model: a backend kind plus that backend's own settings (validated by the backend)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    backend: str = "embedded"
    prices: Prices = Field(default_factory=Prices)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NodeSpec(BaseModel):
    """One team member. Unset sampling fields fall back to the team's ``defaults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    role: str = Field("generalist", min_length=1, max_length=64)
    model: str | None = None
    system_prompt: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    skills: tuple[str, ...] = ()
    max_concurrent: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    seed: int | None = None
    weight: float = Field(1.0, gt=0.0, le=1000.0, description="Vote weight for `weighted`.")
    resources: dict[str, float] = Field(
        default_factory=dict, description="Ray resources this node needs (CPU, GPU, custom)."
    )


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    system_prompt: str = Field("You are a helpful, concise assistant.", max_length=MAX_TEXT_CHARS)
    max_concurrent: int = Field(4, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    timeout_s: float = Field(300.0, gt=0, le=86400)


def _node_name(node: NodeSpec) -> str:
    return node.name


class TeamSpec(IndexedModel):
    """A whole team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("team", min_length=1, max_length=128)
    description: str = ""
    models: dict[str, ModelSpec] = Field(default_factory=lambda: {"smollm2": ModelSpec()})
    defaults: Defaults = Field(default_factory=Defaults)
    nodes: tuple[NodeSpec, ...] = Field(min_length=1)

    consensus: ConsensusSpec = Field(
        default_factory=ConsensusSpec, description="How the team reaches one answer."
    )
    roles: dict[str, RoleConfig] = Field(
        default_factory=dict, description="Per-role settings: load balancing across replicas."
    )
    ray: RaySettings | None = Field(
        None, description="Ray runtime placement and recovery (see docs/ray.md)."
    )
    resilience: ResilienceSpec | None = Field(
        None, description="Timeouts, retries, breakers, hedging, rate limits (docs/faults.md)."
    )
    budget: BudgetSpec | None = Field(None, description="Most tokens / cost one run may spend.")
    faults: FaultsSpec | None = Field(None, description="Fault injection (docs/faults.md).")

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        if not self.models:
            raise ValueError("at least one model is required")
        for model_name in self.models:
            if not re.match(NAME_PATTERN, model_name):
                raise ValueError(f"model name {model_name!r} must match {NAME_PATTERN}")
        if self.defaults.model is not None and self.defaults.model not in self.models:
            raise ValueError(
                f"defaults.model: unknown model {self.defaults.model!r}; "
                f"defined: {', '.join(self.models)}"
            )
        seen: set[str] = set()
        for index, node in enumerate(self.nodes):
            if node.name in seen:
                raise ValueError(f"nodes[{index}].name: duplicate node name {node.name!r}")
            seen.add(node.name)
            if node.model is not None and node.model not in self.models:
                raise ValueError(
                    f"nodes[{index}].model: unknown model {node.model!r}; "
                    f"defined: {', '.join(self.models)}"
                )
        node_roles = {node.role for node in self.nodes}
        for role in self.roles:
            if role not in node_roles:
                raise ValueError(
                    f"roles.{role}: no node has role {role!r}; "
                    f"node roles: {', '.join(sorted(node_roles))}"
                )
        try:
            self.consensus.check_team(self.node_names, list(self.models), prefix="consensus.")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        check_references(
            node_names=self.node_names,
            roles=node_roles,
            models=set(self.models),
            faults=self.faults,
            resilience=self.resilience,
        )
        return self

    # -- derived views -------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self.defaults.model or next(iter(self.models))

    def model_of(self, node: NodeSpec) -> str:
        return node.model or self.default_model

    def node(self, name: str) -> NodeSpec:
        node = self._nodes_by_name.get(name)
        if node is not None:
            return node
        raise ConfigError(f"no node named {name!r}; team has: {', '.join(self.node_names)}")

    @property
    def _nodes_by_name(self) -> dict[str, NodeSpec]:
        return self._indexed(self.nodes, _node_name)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def system_prompt(self, node: NodeSpec) -> str:
        return node.system_prompt or self.defaults.system_prompt

    def max_concurrent(self, node: NodeSpec) -> int:
        return node.max_concurrent or self.defaults.max_concurrent

    def sampling(self, node: NodeSpec) -> Sampling:
        return Sampling(
            temperature=self.defaults.temperature if node.temperature is None else node.temperature,
            max_tokens=node.max_tokens or self.defaults.max_tokens,
            seed=node.seed,
        )

    def resized(self, n: int) -> TeamSpec:
        """A team of exactly ``n`` nodes: the first ``n``, or the nodes repeated in order.

        Repeats are named ``<name>-<k>`` and get distinct seeds, so sampled replies differ.
        """
        if n < 1:
            raise ConfigError("a team needs at least one node", field="--nodes")
        if n <= len(self.nodes):
            return self.model_copy(update={"nodes": self.nodes[:n]})
        nodes = list(self.nodes)
        taken = set(self.node_names)
        k = 0
        while len(nodes) < n:
            base = self.nodes[k % len(self.nodes)]
            copy_number = k // len(self.nodes) + 2
            name = f"{base.name}-{copy_number}"
            while name in taken:
                copy_number += 1
                name = f"{base.name}-{copy_number}"
            taken.add(name)
            seed = None if base.seed is None else base.seed + 1000 * copy_number
            nodes.append(base.model_copy(update={"name": name, "seed": seed}))
            k += 1
        return self.model_copy(update={"nodes": tuple(nodes)})


# -- loading -----------------------------------------------------------------------------


def format_location(loc: tuple[int | str, ...]) -> str:
    """('nodes', 1, 'model') -> 'nodes[1].model'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _first_error(exc: ValidationError) -> tuple[str | None, str]:
    error = exc.errors()[0]
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-after"))
    message = str(error["msg"]).removeprefix("Value error, ")
    # Cross-field errors carry their own location ("nodes[1].model: ...").
    match = re.match(r"^([\w\[\]\.]+): (.*)$", message, re.S)
    if match and not loc:
        return match.group(1), match.group(2)
    if error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    return format_location(loc) or None, message


def parse_team(data: Any, *, source: str) -> TeamSpec:
    """Validate already-parsed YAML/JSON data as a team, including each model's settings."""
    if not isinstance(data, dict):
        raise ConfigError("a team file must be a mapping with 'models' and 'nodes'", source=source)
    try:
        team = TeamSpec.model_validate(data)
    except ValidationError as exc:
        field, message = _first_error(exc)
        raise ConfigError(message, source=source, field=field) from None
    from lmteams.models.registry import validate_options

    for name, spec in team.models.items():
        try:
            validate_options(spec.backend, spec.options)
        except ConfigError as exc:
            raise exc.under(f"models.{name}", source=source, missing="backend") from None
    return team


BUILTIN_TEAMS = {
    "default": "default_team.yaml",
    "coders": "coding_team.yaml",
    "specialists": "specialists_team.yaml",
    "oracle": "oracle_team.yaml",
    "teamwork": "teamwork_team.yaml",
}


def load_team(path: str | Path | None = None, *, default: str = DEFAULT_TEAM) -> TeamSpec:
    """Load a team file, or a team shipped with lmteams by name (``default``, ``coders``...).

    ``path=None`` loads the ``default`` named team. Files past the limits of
    :mod:`lmteams.limits` (size, nesting, alias expansion) are refused before they are parsed.
    """
    name = default if path is None else str(path)
    if name in BUILTIN_TEAMS and not Path(name).exists():
        text = resources.files("lmteams.data").joinpath(BUILTIN_TEAMS[name]).read_text()
        return parse_team(load_yaml(text, source=f"{name} team"), source=f"{name} team")
    return parse_team(load_yaml(read_text(name), source=name), source=name)
