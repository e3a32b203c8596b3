"""One error tree for everything lmteams raises to its users.

    LMTeamsError
    ├── ConfigError                  a team file, project file or flag is wrong (names file and field)
    ├── StoreError                   the event log cannot be opened or written
    ├── RunNotFound                  no run with that id in the event log
    ├── RuntimeClosed                a runtime was used after it stopped
    ├── BudgetExceeded               a run hit its token or cost budget
    ├── SandboxUnavailable           model code would run without the isolation it requires
    └── ModelError                   a model (or tool) call failed
        ├── TransientModelError      worth retrying
        │   ├── ModelTimeout
        │   ├── RateLimited          carries retry_after_s when the server said so
        │   └── ModelUnavailable     connection refused, 5xx, engine crashed, node dead
        └── PermanentModelError      retrying the same request cannot help
            ├── InvalidRequest
            ├── AuthenticationFailed
            └── BadOutput            empty, malformed or runaway output

Retry code reads the class, never the message. Messages never carry API keys.
"""

from __future__ import annotations


class LMTeamsError(Exception):
    """Base of every error lmteams raises on purpose."""


class ConfigError(LMTeamsError):
    """Invalid configuration: the message names the source, the field and the problem."""

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None):
        self.problem = problem
        self.source = source
        self.field = field
        parts = [p for p in (source, field) if p]
        super().__init__(": ".join([*parts, problem]))

    def under(
        self, prefix: str, *, source: str | None = None, missing: str | None = None
    ) -> ConfigError:
        """This error as one of ``prefix``'s fields: ``path`` under ``models.coder`` reads
        ``models.coder.path`` (``missing``: the field named when this error names none)."""
        inner = self.field or missing
        return ConfigError(
            self.problem,
            source=source or self.source,
            field=f"{prefix}.{inner}" if inner else prefix,
        )


class StoreError(LMTeamsError):
    """The event log could not be opened, migrated or written."""


class RunNotFound(LMTeamsError):
    """No run with the given id exists in the event log."""


class RuntimeClosed(LMTeamsError):
    """A runtime was asked to deliver a message after it was stopped."""


class BudgetExceeded(LMTeamsError):
    """A run reached its token or cost budget and stopped cleanly."""


class SandboxUnavailable(LMTeamsError):
    """The sandbox cannot isolate model-written code here and isolation is required."""


class ModelError(LMTeamsError):
    """A model or tool call failed. ``node`` and ``model`` say where, when known."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        model: str | None = None,
        run_id: str | None = None,
    ):
        self.node = node
        self.model = model
        self.run_id = run_id
        super().__init__(message)

    def where(self) -> str:
        parts = []
        if self.node:
            parts.append(f"node {self.node}")
        if self.model:
            parts.append(f"model {self.model}")
        return ", ".join(parts)

    def __str__(self) -> str:
        base = super().__str__()
        where = self.where()
        return f"{base} ({where})" if where else base


class TransientModelError(ModelError):
    """A failure that may succeed on retry: timeout, rate limit, unavailable."""

    transient = True


class ModelTimeout(TransientModelError):
    """The call ran past its deadline."""


class RateLimited(TransientModelError):
    """The endpoint refused the call for now; ``retry_after_s`` is its hint, if any."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **where: str | None):
        self.retry_after_s = retry_after_s
        super().__init__(message, **where)


class ModelUnavailable(TransientModelError):
    """The endpoint or engine could not be reached or failed on its side."""


class PermanentModelError(ModelError):
    """A failure that repeating the same request cannot fix."""


class InvalidRequest(PermanentModelError):
    """The endpoint rejected the request as malformed."""


class AuthenticationFailed(PermanentModelError):
    """The endpoint rejected the credentials."""


class BadOutput(PermanentModelError):
    """The reply was empty, malformed or degenerate."""


#: Model errors by the short name that team files use (scripted ``error:``, ``faults:`` rules).
MODEL_ERRORS: dict[str, type[ModelError]] = {
    "timeout": ModelTimeout,
    "rate_limited": RateLimited,
    "unavailable": ModelUnavailable,
    "invalid": InvalidRequest,
    "bad_output": BadOutput,
}
