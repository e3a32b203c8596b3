"""The front's rules against a fake completion handler: keys, limits, errors, the gate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from lmteams.errors import InvalidRequest, ModelTimeout, ModelUnavailable, RateLimited
from lmteams.serve.app import build_app
from lmteams.serve.limits import ServeLimits
from lmteams.serve.protocol import ApiError

KEY = "sk-front-test-key-0123456789"
HELLO = {"model": "m1", "messages": [{"role": "user", "content": "hello"}]}


def completion(text: str = "hi") -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": "m1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


class FakeHandler:
    """Answers every request; a test can hold requests open, make it fail or count tokens."""

    def __init__(self, *, tokens: int = 10, error: Exception | None = None) -> None:
        self.tokens = tokens
        self.error = error
        self.bodies: list[dict[str, Any]] = []
        self.counted = 0
        self.in_flight = 0
        self.release: asyncio.Event | None = None

    @property
    def models(self) -> Sequence[str]:
        return ("m1", "m2")

    async def wait_ready(self) -> None:
        return None

    async def count_prompt_tokens(self, model: str, body: dict[str, Any]) -> int:
        self.counted += 1
        return self.tokens

    async def complete(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if self.error is not None:
            raise self.error
        self.in_flight += 1
        try:
            if self.release is not None:
                await self.release.wait()
        finally:
            self.in_flight -= 1
        return completion()

    async def open_stream(self, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        self.bodies.append(body)
        if self.error is not None:
            raise self.error

        async def chunks() -> AsyncIterator[bytes]:
            yield b'data: {"choices":[{"index":0,"delta":{"content":"h"}}]}\n\n'
            yield b"data: [DONE]\n\n"

        return chunks()

    async def aclose(self) -> None:
        return None


def client(handler: FakeHandler, limits: ServeLimits | None = None, key: str | None = None):
    app = build_app(handler, limits or ServeLimits(), api_key=SecretStr(key) if key else None)
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://front")


def assert_error(response: httpx2.Response, status: int, code: str | None, param: Any = None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


async def test_keyless_front_serves_and_bounds_max_tokens() -> None:
    handler = FakeHandler()
    async with client(handler, ServeLimits(max_tokens=300)) as http:
        response = await http.post("/v1/chat/completions", json=HELLO)
        models = await http.get("/v1/models")
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    # A request without a cap gets the server's cap rather than "until the context is full".
    assert handler.bodies[0]["max_tokens"] == 300
    assert [m["id"] for m in models.json()["data"]] == ["m1", "m2"]


async def test_a_configured_key_is_required() -> None:
    handler = FakeHandler()
    async with client(handler, key=KEY) as http:
        missing = await http.post("/v1/chat/completions", json=HELLO)
        wrong = await http.post(
            "/v1/chat/completions", json=HELLO, headers={"Authorization": "Bearer sk-wrong"}
        )
        models = await http.get("/v1/models")
        good = await http.post(
            "/v1/chat/completions", json=HELLO, headers={"Authorization": f"Bearer {KEY}"}
        )
        health = await http.get("/health")
    for refused in (missing, wrong, models):
        error = assert_error(refused, 401, "invalid_api_key")
        assert KEY not in refused.text and "sk-wrong" not in error["message"]
    assert good.status_code == 200
    assert health.status_code == 200
    assert len(handler.bodies) == 1


async def test_oversized_body_is_413_before_it_is_read() -> None:
    handler = FakeHandler()
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    async with client(handler, ServeLimits(max_body_bytes=4096)) as http:
        response = await http.post("/v1/chat/completions", json=big)
    assert_error(response, 413, "request_too_large")
    assert handler.bodies == []


async def test_oversized_chunked_body_without_length_is_413() -> None:
    handler = FakeHandler()

    async def body() -> AsyncIterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    async with client(handler, ServeLimits(max_body_bytes=4096)) as http:
        response = await http.post("/v1/chat/completions", content=body())
    assert_error(response, 413, "request_too_large")
    assert handler.bodies == []


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_over_the_cap_is_400(field: str) -> None:
    handler = FakeHandler()
    async with client(handler, ServeLimits(max_tokens=512)) as http:
        response = await http.post("/v1/chat/completions", json={**HELLO, field: 1_000_000_000})
        within = await http.post("/v1/chat/completions", json={**HELLO, field: 512})
    error = assert_error(response, 400, "max_tokens_too_large", param=field)
    assert "512" in error["message"]
    assert within.status_code == 200
    assert handler.bodies[0]["max_tokens"] == 512
    assert "max_completion_tokens" not in handler.bodies[0]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"model": "m1", "messages": []}, "messages", "at least one message"),
        ({"model": "m1"}, "messages", "required"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role", "system"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content", "a string"),
        ({**HELLO, "max_tokens": 0}, "max_tokens", "greater than"),
        ({**HELLO, "n": 3}, "n", "n=1"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    body: dict[str, Any], param: str, fragment: str
) -> None:
    handler = FakeHandler()
    async with client(handler) as http:
        response = await http.post("/v1/chat/completions", json=body)
    error = assert_error(response, 400, None, param=param)
    assert fragment in error["message"]
    assert handler.bodies == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"[" * 5000, "JSON")],
)
async def test_a_body_that_is_not_a_json_object_is_400(content: bytes, fragment: str) -> None:
    async with client(FakeHandler()) as http:
        response = await http.post(
            "/v1/chat/completions", content=content, headers={"Content-Type": "application/json"}
        )
    assert fragment in assert_error(response, 400, None)["message"]


async def test_unknown_model_route_and_method_are_404_and_405() -> None:
    handler = FakeHandler()
    async with client(handler) as http:
        unknown = await http.post("/v1/chat/completions", json={**HELLO, "model": "gpt-9"})
        card = await http.get("/v1/models/gpt-9")
        known = await http.get("/v1/models/m2")
        route = await http.get("/v1/nothing")
        method = await http.get("/v1/chat/completions")
        second = await http.post("/v1/chat/completions", json={**HELLO, "model": "m2"})
    assert "m1, m2" in assert_error(unknown, 404, "model_not_found", param="model")["message"]
    assert_error(card, 404, "model_not_found")
    assert known.json()["id"] == "m2"
    assert_error(route, 404, "not_found")
    assert_error(method, 405, "method_not_allowed")
    assert second.status_code == 200


async def test_requests_past_the_concurrency_cap_are_429_and_slots_come_back() -> None:
    handler = FakeHandler()
    handler.release = asyncio.Event()
    async with client(handler, ServeLimits(max_concurrent=2)) as http:
        held = [asyncio.create_task(http.post("/v1/chat/completions", json=HELLO)) for _ in "ab"]
        for _ in range(1000):
            if handler.in_flight == 2:
                break
            await asyncio.sleep(0.001)
        assert handler.in_flight == 2
        refused = await http.post("/v1/chat/completions", json=HELLO)
        handler.release.set()
        answered = await asyncio.gather(*held)
        after = await http.post("/v1/chat/completions", json=HELLO)
    error = assert_error(refused, 429, "too_many_requests")
    assert error["type"] == "rate_limit_error"
    assert refused.headers["retry-after"] == "1"
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200


async def test_a_failed_request_gives_its_slot_back() -> None:
    handler = FakeHandler(error=ModelUnavailable("engine down"))
    async with client(handler, ServeLimits(max_concurrent=1)) as http:
        first = await http.post("/v1/chat/completions", json=HELLO)
        second = await http.post("/v1/chat/completions", json=HELLO)
    assert first.status_code == second.status_code == 503


async def test_streams_pass_through_and_give_their_slot_back() -> None:
    handler = FakeHandler()
    async with client(handler, ServeLimits(max_concurrent=1)) as http:
        bodies = []
        for _ in range(2):
            async with http.stream(
                "POST", "/v1/chat/completions", json={**HELLO, "stream": True}
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                bodies.append(b"".join([chunk async for chunk in response.aiter_bytes()]))
    assert all(body.endswith(b"data: [DONE]\n\n") for body in bodies)
    assert handler.bodies[0]["stream"] is True


async def test_a_stream_that_fails_before_its_first_byte_has_a_status() -> None:
    handler = FakeHandler(error=InvalidRequest("bad grammar"))
    async with client(handler) as http:
        response = await http.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert "bad grammar" in assert_error(response, 400, None)["message"]


async def test_prompt_tokens_are_counted_only_past_the_cheap_bound() -> None:
    small = FakeHandler(tokens=10_000)
    async with client(small, ServeLimits(max_prompt_tokens=200)) as http:
        fits = await http.post("/v1/chat/completions", json=HELLO)
    assert fits.status_code == 200 and small.counted == 0

    long_prompt = {"messages": [{"role": "user", "content": "word " * 100}]}
    over = FakeHandler(tokens=201)
    async with client(over, ServeLimits(max_prompt_tokens=200)) as http:
        refused = await http.post("/v1/chat/completions", json=long_prompt)
    assert "201" in assert_error(refused, 400, "context_length_exceeded")["message"]
    assert over.counted == 1 and over.bodies == []

    under = FakeHandler(tokens=150)
    async with client(under, ServeLimits(max_prompt_tokens=200)) as http:
        accepted = await http.post("/v1/chat/completions", json=long_prompt)
    assert accepted.status_code == 200 and under.counted == 1


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidRequest("no"), 400, None),
        (RateLimited("slow down", retry_after_s=2.5), 429, "rate_limited"),
        (ModelUnavailable("down"), 503, "unavailable"),
        (ModelTimeout("late"), 504, "timeout"),
        (ApiError(418, "teapot", code="teapot"), 418, "teapot"),
    ],
)
async def test_handler_errors_become_statuses(error: Exception, status: int, code: str) -> None:
    async with client(FakeHandler(error=error)) as http:
        response = await http.post("/v1/chat/completions", json=HELLO)
    assert_error(response, status, code)
    if isinstance(error, RateLimited):
        assert response.headers["retry-after"] == "3"


async def test_a_body_that_trickles_past_the_deadline_is_408() -> None:
    handler = FakeHandler()

    async def body() -> AsyncIterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        await asyncio.sleep(30)  # never finishes within the deadline
        yield b'"}]}'

    async with client(handler, ServeLimits(body_timeout_s=0.05)) as http:
        response = await http.post("/v1/chat/completions", content=body())
    assert_error(response, 408, "request_timeout")
    assert handler.bodies == []


async def test_concurrent_requests_each_get_their_own_answer() -> None:
    handler = FakeHandler()
    async with client(handler, ServeLimits(max_concurrent=8)) as http:
        replies = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=HELLO) for _ in range(8))
        )
    assert [r.status_code for r in replies] == [200] * 8
    assert len(handler.bodies) == 8
