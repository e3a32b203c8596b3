"""The front under uvicorn on loopback: readiness reported only once it answers, clean stops."""

from __future__ import annotations

import asyncio
import socket

import httpx2
import pytest
from pydantic import SecretStr

from lmteams.errors import ConfigError, ModelUnavailable
from lmteams.serve.limits import ServeLimits
from lmteams.serve.server import serve
from tests.serve.test_app import HELLO, KEY, FakeHandler


class SlowHandler(FakeHandler):
    """A model that loads only when the test says so."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.loaded = asyncio.Event()
        self.fail = fail
        self.closed = False

    async def wait_ready(self) -> None:
        await self.loaded.wait()
        if self.fail:
            raise ModelUnavailable("weights are corrupt")

    async def aclose(self) -> None:
        self.closed = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(condition, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


async def test_serving_is_reported_only_once_the_front_answers() -> None:
    handler = SlowHandler()
    port = free_port()
    urls: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(handler, ServeLimits(), port=port, on_ready=urls.append, stop=stop)
    )
    async with httpx2.AsyncClient(trust_env=False) as http:
        for _ in range(5):  # while the model loads, nothing is announced and nothing answers
            await asyncio.sleep(0.02)
            assert urls == []
            with pytest.raises(httpx2.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/health")
        handler.loaded.set()
        await wait_for(lambda: urls, "the ready callback")
        assert urls == [f"http://127.0.0.1:{port}"]
        # The first thing a client does on reading the line works, with no retry.
        assert (await http.get(urls[0] + "/v1/models")).status_code == 200
        response = await http.post(urls[0] + "/v1/chat/completions", json=HELLO)
        assert response.status_code == 200
    stop.set()
    await task
    assert handler.closed


async def test_a_key_is_enforced_over_real_http() -> None:
    handler = SlowHandler()
    handler.loaded.set()
    urls: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(handler, ServeLimits(), api_key=SecretStr(KEY), on_ready=urls.append, stop=stop)
    )
    await wait_for(lambda: urls or task.done(), "the ready callback")
    async with httpx2.AsyncClient(trust_env=False, base_url=urls[0]) as http:
        without = await http.post("/v1/chat/completions", json=HELLO)
        good = await http.post(
            "/v1/chat/completions", json=HELLO, headers={"Authorization": f"Bearer {KEY}"}
        )
    stop.set()
    await task
    assert without.status_code == 401
    assert good.status_code == 200


async def test_stop_while_loading_returns_and_closes_the_handler() -> None:
    handler = SlowHandler()
    urls: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(serve(handler, ServeLimits(), on_ready=urls.append, stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert urls == [] and handler.closed


async def test_a_model_that_fails_to_load_is_an_error_and_nothing_is_announced() -> None:
    handler = SlowHandler(fail=True)
    handler.loaded.set()
    urls: list[str] = []
    with pytest.raises(ModelUnavailable, match="corrupt"):
        await serve(handler, ServeLimits(), on_ready=urls.append, stop=asyncio.Event())
    assert urls == [] and handler.closed


async def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        handler = SlowHandler()
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is already in use"):
            await serve(handler, ServeLimits(), port=port, stop=asyncio.Event())


async def test_a_public_address_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="non-loopback"):
        await serve(SlowHandler(), ServeLimits(), host="0.0.0.0", stop=asyncio.Event())


async def test_a_50_mb_body_is_refused_over_real_http_without_being_read() -> None:
    handler = SlowHandler()
    handler.loaded.set()
    urls: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(serve(handler, ServeLimits(), on_ready=urls.append, stop=stop))
    await wait_for(lambda: urls or task.done(), "the ready callback")
    host, port = urls[0].removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 52428800\r\n\r\n" + b"x" * 65536
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    stop.set()
    await task
    assert status.startswith(b"HTTP/1.1 413")
    assert handler.bodies == []
