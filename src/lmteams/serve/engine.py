"""The completion handler of ``serve-model``: one embedded engine on a private loopback port.

llama.cpp's server always listens and always wants a key; it listens on 127.0.0.1 at a port of
its own choosing, under a random key that only this handler knows. The front is the only door
clients see, and every request reaches the engine already checked.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import orjson

from lmteams.errors import ModelTimeout, ModelUnavailable
from lmteams.models.embedded import EmbeddedEngine, EngineKey
from lmteams.serve.protocol import ApiError

# Generation is slow on a small CPU; the read timeout bounds the gap between two bytes of a
# reply, not the whole reply, and a client that gives up cancels its request anyway.
ENGINE_TIMEOUT = httpx2.Timeout(connect=5.0, read=600.0, write=60.0, pool=None)
READY_POLL_S = 0.2


def upstream_error(status: int, payload: Any) -> ApiError:
    """llama.cpp's error object, in the OpenAI shape and with a status a client can act on."""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = str(error.get("message", error)) if isinstance(error, dict) else str(payload)
    kind = error.get("type") if isinstance(error, dict) else None
    if kind == "exceed_context_size_error":
        return ApiError(400, message, param="messages", code="context_length_exceeded")
    if status in (400, 404, 413, 422):
        return ApiError(400, message, code="invalid_request")
    if status == 503:
        return ApiError(503, message, type="server_error", code="unavailable")
    # 401/403 would mean the front's own key to the engine is wrong: the server's fault.
    return ApiError(502, f"the model engine failed: {message}", type="server_error")


class _UpstreamStream:
    """The engine's event stream, passed through as it arrives; closing it closes the reply."""

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self._chunks = response.aiter_raw()

    def __aiter__(self) -> _UpstreamStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except httpx2.TransportError:
            # Headers are sent already: the stream ends, and the client sees no [DONE].
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._response.aclose()


class EngineHandler:
    """Serves one embedded model under ``alias``; the engine is loaded by :meth:`wait_ready`."""

    def __init__(self, key: EngineKey, alias: str, *, ready_timeout_s: float = 900.0) -> None:
        self.key = key
        self.alias = alias
        self.ready_timeout_s = ready_timeout_s
        self._secret = secrets.token_urlsafe(24)
        self.engine: EmbeddedEngine | None = None
        # Set once loading starts, and never reset: llama.cpp's threads outlive the engine.
        self.native_started = False
        self._client: httpx2.AsyncClient | None = None

    @property
    def models(self) -> Sequence[str]:
        return (self.alias,)

    async def wait_ready(self) -> None:
        """Load the model off the event loop, then wait until the engine answers /health.

        The engine's constructor can return before the weights are loaded; until then it
        answers 503, which is what clients would see if the front opened earlier.
        """
        self.native_started = True
        try:
            self.engine = await asyncio.to_thread(
                EmbeddedEngine,
                self.key,
                host="127.0.0.1",
                port=0,
                api_key=self._secret,
                alias=self.alias,
            )
        except Exception as exc:  # the native library raises plain exceptions
            raise ModelUnavailable(f"the model {self.key.path} failed to load: {exc}") from exc
        self._client = httpx2.AsyncClient(
            base_url=self.engine.listening_address,
            headers={"Authorization": f"Bearer {self._secret}"},
            timeout=ENGINE_TIMEOUT,
            trust_env=False,  # loopback only: a proxy from the environment must not see this
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                if (await self._client.get("/health")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ModelTimeout(f"the model was not ready after {self.ready_timeout_s:.0f} s")
            await asyncio.sleep(READY_POLL_S)

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            raise ModelUnavailable("the engine is not started")
        return self._client

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self.client.post(path, json=body)
        except httpx2.TimeoutException as exc:
            raise ModelTimeout(f"the model engine did not answer {path} in time") from exc
        except httpx2.TransportError as exc:
            raise ModelUnavailable(f"the model engine is unreachable: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        if response.status_code != 200:
            raise upstream_error(response.status_code, payload)
        return payload

    async def count_prompt_tokens(self, model: str, body: dict[str, Any]) -> int:
        # The engine's own template and tokenizer: the count is the one generation will see.
        templated = await self._post("/apply-template", {"messages": body["messages"]})
        tokens = await self._post(
            "/tokenize",
            {"content": templated["prompt"], "add_special": True, "parse_special": True},
        )
        return len(tokens["tokens"])

    async def complete(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        result = await self._post("/v1/chat/completions", {**body, "model": model})
        if not isinstance(result, dict):
            raise ApiError(
                502, "the model engine sent a reply that is not JSON", type="server_error"
            )
        return result

    async def open_stream(self, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        request = self.client.build_request(
            "POST", "/v1/chat/completions", json={**body, "model": model, "stream": True}
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx2.TimeoutException as exc:
            raise ModelTimeout("the model engine did not start the stream in time") from exc
        except httpx2.TransportError as exc:
            raise ModelUnavailable(f"the model engine is unreachable: {exc}") from exc
        if response.status_code != 200:
            raw = await response.aread()
            await response.aclose()
            try:
                payload: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                payload = raw.decode(errors="replace")
            raise upstream_error(response.status_code, payload)
        return _UpstreamStream(response)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
