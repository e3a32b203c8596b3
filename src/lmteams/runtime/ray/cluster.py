"""Joining a Ray cluster, or starting a private local one, and listing its machines.

``address`` follows ``--ray-address``: ``None`` starts a local cluster for this process (unless
``RAY_ADDRESS`` names one), ``"auto"`` joins the cluster started on this machine with
``ray start --head``, ``HOST:PORT`` joins that cluster's head. Ray is imported here, lazily.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lmteams.errors import ConfigError
from lmteams.runtime.ray.placement import Machine

ADDRESS_FIELD = "--ray-address"
LOCAL_MAX_CPUS = 8
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d{1,5})$")


def check_address(address: str | None) -> str | None:
    """Validate an address as given by a user (``auto`` or ``HOST:PORT``); None stays None."""
    if address is None:
        return None
    address = address.strip()
    if address == "auto":
        return address
    if "://" in address:
        raise ConfigError(
            f"{address!r}: Ray Client addresses (ray://) are not supported; give the head's "
            "HOST:PORT (default port 6379) and run lmteams on a machine of the cluster",
            field=ADDRESS_FIELD,
        )
    match = _HOST_PORT.match(address)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ConfigError(
            f"{address!r} is not an address: use auto or HOST:PORT (e.g. 10.0.0.5:6379)",
            field=ADDRESS_FIELD,
        )
    return address


@dataclass(slots=True)
class ClusterLease:
    """This process's hold on Ray: ``owned`` when it called ``ray.init`` and must undo it."""

    owned: bool
    local: bool

    def release(self) -> None:
        """Disconnect (a joined cluster keeps running) or stop the private local cluster."""
        if self.owned:
            import ray

            ray.shutdown()
            self.owned = False


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_local(num_cpus: int | None = None) -> None:
    """Start a private single-machine Ray cluster bound to loopback, without a dashboard.

    Its processes use 127.0.0.1 as their address and never probe outside addresses for their
    own IP; token authentication is on (Ray's default); usage statistics are off.
    """
    cpus = num_cpus or min(os.cpu_count() or 1, LOCAL_MAX_CPUS)
    env = {
        "RAY_USAGE_STATS_ENABLED": os.environ.get("RAY_USAGE_STATS_ENABLED", "0"),
        # Ray's switch for "this machine only": the node address is then 127.0.0.1. Ray reads
        # it when first imported (and its child processes read it from the environment).
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    with _environment(**env):
        import ray
        from ray._private import ray_constants

        driver_messages_to_stderr()

        with _attribute(ray_constants, "ENABLE_RAY_CLUSTER", False), _quiet(_TOKEN_LOGGER):
            ray.init(
                address="local",
                num_cpus=cpus,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                log_to_driver=False,
                configure_logging=False,
                logging_level=logging.ERROR,
            )


def driver_messages_to_stderr() -> None:
    """Print what Ray's raylets publish for the driver on stderr, as Ray does its own logs.

    Ray prints those messages (worker warnings such as "N PYTHON worker processes have been
    started", whatever ``log_to_driver`` says) on stdout, where they would break ``--json``
    output. Ray reads its printing function by name when each message arrives, so replacing
    it redirects them all; a Ray without it has nothing to redirect.
    """
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "lmteams_to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.lmteams_to_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


# Ray warns on every local start that it turned token authentication on: expected here.
_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"


@contextmanager
def _attribute(target: object, name: str, value: object) -> Iterator[None]:
    missing = object()
    saved = getattr(target, name, missing)
    if saved is missing:  # a Ray without this switch: nothing to do
        yield
        return
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, saved)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def connect(address: str | None, *, num_cpus: int | None = None) -> ClusterLease:
    """Make sure this process is connected to Ray; blocks while a local cluster starts.

    Raises :class:`~lmteams.errors.ConfigError` when Ray is missing or the cluster cannot be
    reached.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the Ray runtime needs Ray: pip install 'lmteams[ray]'", field="--runtime"
        ) from None
    if ray.is_initialized():
        return ClusterLease(owned=False, local=False)
    address = check_address(address) or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        start_local(num_cpus)
        return ClusterLease(owned=True, local=True)
    if address != "auto":
        _probe(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    driver_messages_to_stderr()
    try:
        ray.init(
            address=address,
            log_to_driver=False,
            configure_logging=False,
            logging_level=logging.ERROR,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = " (start one with `ray start --head`)" if address == "auto" else ""
        raise ConfigError(
            f"cannot join the Ray cluster at {address}: {first_line(exc)}{hint}",
            field=ADDRESS_FIELD,
        ) from None
    return ClusterLease(owned=True, local=False)


def _probe(address: str, timeout_s: float = 3.0) -> None:
    # ray.init retries an unreachable head for about a minute; fail in seconds instead.
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address}: {exc.strerror or exc}", field=ADDRESS_FIELD
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def machines() -> list[Machine]:
    """The cluster's live machines, the driver's own first."""
    import ray

    here = str(ray.get_runtime_context().get_node_id())
    found = [
        Machine(str(n["NodeID"]), str(n["NodeManagerAddress"]), dict(n["Resources"]))
        for n in ray.nodes()  # type: ignore[no-untyped-call]
        if n.get("Alive")
    ]
    return sorted(found, key=lambda m: m.id != here)


#: Ray puts an actor that reserves no resources on a random machine, ignoring a soft node
#: affinity (it keeps only a hard one), so an actor that asks for nothing reserves this much of
#: Ray's ``memory`` resource (bytes; every machine has some unless started with ``--memory 0``).
PIN_MEMORY_BYTES = 1


def on_machine(machine: str, resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray actor options reserving ``resources`` on ``machine``.

    The affinity is soft, so a lost machine's actors move to another machine that fits.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options = resource_options(resources)
    if not any(value > 0 for value in resources.values()):
        options["memory"] = PIN_MEMORY_BYTES
    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=machine, soft=True)
    return options


def resource_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray actor options reserving ``resources`` (CPU, GPU, memory, custom)."""
    rest = dict(resources)
    options: dict[str, Any] = {"num_cpus": rest.pop("CPU", 0.0)}
    if "GPU" in rest:
        options["num_gpus"] = rest.pop("GPU")
    if "memory" in rest:
        options["memory"] = rest.pop("memory")
    if rest:
        options["resources"] = rest
    return options


def cause_of(exc: BaseException) -> BaseException:
    """The exception an actor raised, out of Ray's wrapper around it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
