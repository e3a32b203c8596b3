"""Run the front under uvicorn and say where it serves only once it answers.

The port is bound first (a taken port is one clear error, and port 0 is resolved to the real
one), the completion handler is made ready (the model loaded) while nothing listens yet, and
only after the front has answered its own ``/health`` is ``on_ready`` called with the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable, Generator

import httpx2
import uvicorn
from pydantic import SecretStr

from lmteams.errors import ConfigError, ModelUnavailable
from lmteams.serve.app import build_app
from lmteams.serve.limits import ServeLimits
from lmteams.serve.protocol import CompletionHandler

STARTUP_POLL_S = 0.05
SELF_CHECK_TIMEOUT_S = 30.0
GRACEFUL_SHUTDOWN_S = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket; clients are refused until the front opens."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve {host!r}: {exc.strerror}", field="--host") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use", field="--port") from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}", field="--host"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _reachable(url: str) -> str:
    """The URL to reach a server bound to ``url``'s host from this machine."""
    return url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: :func:`serve` owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _wait_answers(url: str, server_task: asyncio.Task[None]) -> None:
    async with httpx2.AsyncClient(trust_env=False, timeout=5.0) as client:
        deadline = asyncio.get_running_loop().time() + SELF_CHECK_TIMEOUT_S
        while not server_task.done():
            try:
                if (await client.get(url + "/health")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(STARTUP_POLL_S)
    raise ModelUnavailable(f"the server at {url} did not answer after it started")


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Generator[None, None, None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def serve(
    handler: CompletionHandler,
    limits: ServeLimits,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: SecretStr | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
    on_loading: Callable[[str], None] = lambda url: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``handler`` behind the front until ``stop`` is set (default: SIGINT or SIGTERM).

    ``on_loading`` gets the base URL (``http://host:port``, without ``/v1``) once the port is
    bound, ``on_ready`` once the model is ready and the front has answered a request. A
    non-loopback ``host`` needs ``api_key``. The handler is closed on the way out, whatever
    ends the serving. Cancelling the call stops the server the same way.
    """
    if not is_loopback(host) and api_key is None:
        raise ConfigError(
            f"refusing to serve on non-loopback address {host} without --api-key", field="--host"
        )
    sock = bind(host, port)
    own_stop = stop is None
    stop = stop or asyncio.Event()
    try:
        on_loading(url_of(sock))
        with _stop_on_signals(stop) if own_stop else contextlib.nullcontext():
            ready = asyncio.ensure_future(handler.wait_ready())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                if not ready.done():
                    ready.cancel()
                    await asyncio.wait({ready})
            if stop.is_set():
                return
            ready.result()
            config = uvicorn.Config(
                build_app(handler, limits, api_key=api_key),
                http="h11",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            )
            server = _Server(config)
            # One task, awaited on every way out below: the front stops before the handler.
            task = asyncio.ensure_future(server.serve(sockets=[sock]))
            try:
                url = url_of(sock)
                await _wait_answers(_reachable(url), task)
                on_ready(url)
                stopped = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopped.cancel()
            finally:
                server.should_exit = True
                await task
    finally:
        sock.close()
        await handler.aclose()
