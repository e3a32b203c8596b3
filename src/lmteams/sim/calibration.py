"""A calibration: what `lmteams calibrate` learned from observed runs, saved as JSON.

Per model: how long a call takes as a function of the tasks it writes (a lognormal around
``base_s + per_task_s * k``), how many tasks one call carries when work is waiting (the
study's agents wrote several files per reply), how often a claim is refused, and tokens per
call. Per condition (mode, p, n): the observed rounds, calls and refusals, for comparison.
``simulate --latency calibrated:FILE[:MODEL]`` and ``advise`` read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmteams.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyFit(_Frozen):
    """Call latency: lognormal with median ``base_s + per_task_s * min(k, max_tasks)``."""

    base_s: float = Field(ge=0)
    per_task_s: float = Field(ge=0)
    sigma: float = Field(ge=0, le=5)
    max_tasks: int = Field(12, ge=1)
    calls: int = Field(0, ge=0, description="Observed calls behind the fit.")

    def median(self, tasks: float) -> float:
        return self.base_s + self.per_task_s * min(tasks, self.max_tasks)


class TokenFit(_Frozen):
    """Tokens of one call: prompt per call; completion per call plus per task written."""

    prompt_per_call: float = Field(ge=0)
    completion_per_call: float = Field(ge=0)
    completion_per_task: float = Field(ge=0)


class CallProfile(_Frozen):
    """How one observed run's agent worked: tasks per call while work was waiting, and how
    fast its calls were against the model's fit (a batch with shorter files is faster)."""

    tasks: list[int] = Field(min_length=1)
    files: list[int] = Field(
        default_factory=list,
        description="Files each of those calls wrote (more than its tasks when it rewrote).",
    )
    seconds: list[float] = Field(default_factory=list, description="How long each of them took.")
    censored: bool = Field(
        False, description="All its work fit in one call: it never showed its limit."
    )
    speed: float = Field(1.0, gt=0, description="Its latencies / the fitted medians.")
    mode: str = Field("assigned", description="assigned (preassign, steal, lead) or claimed.")
    workers: int = Field(1, ge=1)
    project: str | None = None
    run: int = Field(0, ge=0, description="Which observed run (profiles of one run share it).")
    agent: int = Field(0, ge=0, description="The agent's place in its team.")

    def limits(self) -> list[tuple[int, int | None]]:
        """(tasks, files) of the calls after which the agent still finished more: what one
        call carried while work was waiting. An agent that did everything in one call gives
        that call."""
        tasks = self.tasks
        keep = [i for i in range(len(tasks)) if any(tasks[j] for j in range(i + 1, len(tasks)))]
        if not any(tasks[i] for i in keep):
            keep = [max(range(len(tasks)), key=tasks.__getitem__)]
        return [(tasks[i], self.files[i] if i < len(self.files) else None) for i in keep]


class ModelCalibration(_Frozen):
    calls: int = Field(ge=0)
    latency: LatencyFit
    tokens: TokenFit
    call_profiles: list[CallProfile] = Field(
        default_factory=lambda: [CallProfile(tasks=[1])],
        description="Per observed one-agent run (the rounds harness replays one per run).",
    )
    sigma_within: float = Field(
        0.0, ge=0, le=5, description="Latency spread within one agent (its speed factored out)."
    )
    claim_refusal: float = Field(0.0, ge=0, le=1, description="Refused claims / claims made.")
    round_overhead_s: float = Field(0.0, ge=0, description="Per round: checks and bookkeeping.")

    @property
    def tasks_per_call(self) -> float:
        """Median tasks one call carried while work waited, in one-agent assigned runs (the
        cleanest view of a model's capacity), else in every profile."""
        solo = [p for p in self.call_profiles if p.workers == 1 and p.mode == "assigned"]
        values = sorted(k for profile in (solo or self.call_profiles) for k, _ in profile.limits())
        return float(values[len(values) // 2]) if values else 1.0


class ConditionStats(_Frozen):
    """What the observed runs of one condition looked like (medians over runs)."""

    mode: str
    p: float | None
    workers: int
    runs: int
    wall_s: float
    rounds: float
    calls_per_task: float
    claims_refused_per_task: float
    tokens: float


class Calibration(_Frozen):
    version: Literal[1] = 1
    kind: Literal["study", "lmteams"]
    source: str
    models: dict[str, ModelCalibration]
    pooled: ModelCalibration
    conditions: list[ConditionStats] = Field(default_factory=list)

    def model(self, name: str | None) -> ModelCalibration:
        """A model's calibration; ``None`` or ``*`` is every model pooled."""
        if name in (None, "*", "pooled"):
            return self.pooled
        assert name is not None
        if name in self.models:
            return self.models[name]
        matches = [m for m in self.models if name.lower() in m.lower()]
        if len(matches) == 1:
            return self.models[matches[0]]
        raise ConfigError(
            f"no model {name!r} in the calibration; it has: {', '.join(sorted(self.models))}",
            field="--latency",
        )


def save_calibration(calibration: Calibration, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(calibration.model_dump_json(indent=2) + "\n")
    return path


_CACHE: dict[tuple[str, float], Calibration] = {}


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration file (cached by path and modification time)."""
    file = Path(path)
    try:
        key = (str(file.resolve()), file.stat().st_mtime)
    except OSError:
        raise ConfigError("calibration file not found", source=str(path)) from None
    if key in _CACHE:
        return _CACHE[key]
    from lmteams.limits import MAX_DATASET_BYTES, load_json, read_text

    data = load_json(read_text(file, max_bytes=MAX_DATASET_BYTES), source=str(path))
    try:
        calibration = Calibration.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{where}: {error['msg']}", source=str(path)) from None
    _CACHE[key] = calibration
    return calibration
