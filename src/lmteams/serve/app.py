"""The HTTP front of a served model: an OpenAI-compatible Starlette app over a completion handler.

The app holds the rules every served model keeps, whatever answers behind it: the bearer key
(when one is configured), the request limits, one error shape, and a gate on concurrent
requests. A request past the gate is answered 429 at once rather than queued: OpenAI clients
retry 429 with backoff by themselves, and a queue in front of a slow model only hides the
overload from them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

import lmteams.errors as errors
from lmteams.serve.limits import (
    ServeLimits,
    check_prompt_tokens,
    check_request,
    forwarded_body,
    prompt_token_bound,
)
from lmteams.serve.protocol import ApiError, ChatRequest, CompletionHandler, RoutesProvider

log = logging.getLogger(__name__)


def api_error_for(exc: errors.LMTeamsError) -> ApiError:
    """The HTTP answer for an error a completion handler raised."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, errors.InvalidRequest | errors.ConfigError):
        # A handler's ConfigError is about the request (a blank question, say): the served
        # configuration itself was checked before the server opened.
        return ApiError(400, str(exc))
    if isinstance(exc, errors.RateLimited):
        retry = math.ceil(exc.retry_after_s) if exc.retry_after_s else 1
        return ApiError(
            429,
            str(exc),
            type="rate_limit_error",
            code="rate_limited",
            headers={"Retry-After": str(retry)},
        )
    if isinstance(exc, errors.BudgetExceeded):
        return ApiError(429, str(exc), type="rate_limit_error", code="insufficient_quota")
    if isinstance(exc, errors.ModelTimeout):
        return ApiError(504, str(exc), type="server_error", code="timeout")
    if isinstance(exc, errors.AuthenticationFailed | errors.BadOutput):
        # The model behind the front failed; the client's request was fine.
        return ApiError(502, str(exc), type="server_error", code="upstream_error")
    if getattr(exc, "transient", False):
        return ApiError(503, str(exc), type="server_error", code="unavailable")
    return ApiError(500, str(exc), type="server_error", code="internal_error")


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class Gate:
    """Counts requests in flight; one event loop, so a plain counter is enough."""

    __slots__ = ("cap", "in_flight")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.in_flight = 0

    def full(self) -> ApiError | None:
        """The 429 a request gets now, or None while there is room."""
        if self.in_flight < self.cap:
            return None
        return ApiError(
            429,
            f"this server is serving its limit of {self.cap} concurrent requests; retry shortly",
            type="rate_limit_error",
            code="too_many_requests",
            headers={"Retry-After": "1"},
        )

    def enter(self) -> None:
        refused = self.full()
        if refused is not None:
            raise refused
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1


class _GatedStream(StreamingResponse):
    """A streamed completion that gives its gate slot back however the stream ends.

    A client that hangs up cancels the send; the upstream iterator is closed here so the
    model stops generating for nobody.
    """

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._content = content
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                await aclose()


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``limit`` bytes.

    A client that trickles its body holds a connection and a buffer: past ``timeout_s`` it
    is answered 408.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_capped(request, limit)
    except TimeoutError:
        raise ApiError(
            408, f"the request body did not arrive within {timeout_s:g} s", code="request_timeout"
        ) from None


async def _read_capped(request: Request, limit: int) -> bytes:
    too_large = ApiError(
        413,
        f"the request body is larger than this server's limit of {limit} bytes",
        code="request_too_large",
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_chat_request(raw: bytes) -> ChatRequest:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise ApiError(400, f"{param}: {problem}" if param else problem, param=param) from None


class Front:
    """The endpoints, bound to one handler, one set of limits and one key.

    Other protocols served beside the OpenAI one (A2A) use the same key, limits and gate.
    """

    def __init__(
        self, handler: CompletionHandler, limits: ServeLimits, api_key: SecretStr | None
    ) -> None:
        self.handler = handler
        self.limits = limits
        self._key = api_key.get_secret_value().encode() if api_key else None
        self.gate = Gate(limits.max_concurrent)
        self._created = int(time.time())

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def authorize(self, request: Request) -> None:
        if self._key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), self._key
        ):
            raise ApiError(
                401,
                "missing or invalid API key: send Authorization: Bearer <key>",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self._created, "owned_by": "lmteams"}

    async def list_models(self, request: Request) -> Response:
        self.authorize(request)
        return JSONResponse(
            {"object": "list", "data": [self._model_card(m) for m in self.handler.models]}
        )

    async def get_model(self, request: Request) -> Response:
        self.authorize(request)
        name = request.path_params["model"]
        if name not in self.handler.models:
            raise ApiError(
                404, f"The model {name!r} does not exist", param="model", code="model_not_found"
            )
        return JSONResponse(self._model_card(name))

    async def chat_completions(self, request: Request) -> Response:
        self.authorize(request)
        raw = await read_body(request, self.limits.max_body_bytes, self.limits.body_timeout_s)
        chat = parse_chat_request(raw)
        model = check_request(chat, self.limits, self.handler.models)
        body = forwarded_body(chat, self.limits)
        self.gate.enter()
        streaming = False
        try:
            if prompt_token_bound(chat.messages) > self.limits.max_prompt_tokens:
                tokens = await self.handler.count_prompt_tokens(model, body)
                check_prompt_tokens(tokens, self.limits)
            if chat.stream:
                chunks = await self.handler.open_stream(model, body)
                streaming = True
                return _GatedStream(chunks, self.gate.leave)
            return JSONResponse(await self.handler.complete(model, body))
        finally:
            if not streaming:
                self.gate.leave()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.LMTeamsError)
    error = api_error_for(exc)
    if error.status >= 500:
        log.warning("request failed: %s", error.message)
    return error_response(error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(404, f"no such endpoint: {request.url.path}", code="not_found")
    elif exc.status_code == 405:
        error = ApiError(405, f"{request.method} is not allowed here", code="method_not_allowed")
    else:
        error = ApiError(exc.status_code, str(exc.detail))
    return error_response(error)


def build_app(
    handler: CompletionHandler, limits: ServeLimits, *, api_key: SecretStr | None = None
) -> Starlette:
    """The OpenAI-compatible app: ``/v1/models``, ``/v1/chat/completions`` and ``/health``.

    A handler that also provides routes (a team's A2A endpoints) gets them mounted beside.

    With ``api_key`` every ``/v1`` request needs ``Authorization: Bearer <key>``; without it
    the app serves anyone who can reach it (the server binds loopback only, then).
    """
    front = Front(handler, limits, api_key)
    routes: list[BaseRoute] = [
        Route("/health", front.health, methods=["GET"]),
        Route("/v1/models", front.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", front.get_model, methods=["GET"]),
        Route("/v1/chat/completions", front.chat_completions, methods=["POST"]),
    ]
    if isinstance(handler, RoutesProvider):
        routes.extend(handler.routes(front))
    return Starlette(
        routes=routes,
        exception_handlers={
            errors.LMTeamsError: _api_error,
            HTTPException: _http_error,
        },
    )
