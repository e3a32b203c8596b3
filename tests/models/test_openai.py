"""The openai backend against a real OpenAI-compatible server: `lmteams serve-model` on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from lmteams.errors import AuthenticationFailed, ConfigError, ModelUnavailable
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.openai import OpenAIBackend, OpenAIOptions

KEY = "sk-test-secret-key-123456"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmteams.cli.app",
            "serve-model",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--parallel",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    url = None
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("serve-model did not start: " + "".join(lines))
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


pytestmark = pytest.mark.model


async def test_completes_through_a_real_openai_compatible_server(server: str) -> None:
    backend = OpenAIBackend(
        OpenAIOptions(base_url=server, model="smollm2", api_key=KEY), name="remote"
    )
    await backend.check_ready()
    completion = await backend.complete(
        [ChatMessage("user", "What is the capital of France? One word.")],
        Sampling(temperature=0.0, max_tokens=12),
    )
    assert "paris" in completion.text.lower()
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.model == "remote"
    await backend.aclose()


async def test_key_from_environment(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    backend = OpenAIBackend(OpenAIOptions(base_url=server, api_key_env="MY_KEY", model="smollm2"))
    await backend.check_ready()
    completion = await backend.complete([ChatMessage("user", "Hi")], Sampling(max_tokens=4))
    assert completion.usage.completion_tokens > 0


async def test_wrong_key_is_permanent_and_never_echoed(server: str) -> None:
    wrong = "sk-wrong-key-987654321"
    backend = OpenAIBackend(OpenAIOptions(base_url=server, api_key=wrong))
    with pytest.raises(ConfigError, match="refused the API key") as ready:
        await backend.check_ready()
    with pytest.raises(AuthenticationFailed) as call:
        await backend.complete([ChatMessage("user", "Hi")], Sampling(max_tokens=4))
    for text in (str(ready.value), str(call.value), repr(backend)):
        assert wrong not in text and KEY not in text


async def test_unreachable_endpoint_fails_fast_and_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(OpenAIOptions(base_url=url, api_key=KEY, ready_timeout_s=2))
    with pytest.raises(ConfigError, match="cannot reach") as info:
        await backend.check_ready()
    assert KEY not in str(info.value)
    with pytest.raises(ModelUnavailable):
        await backend.complete([ChatMessage("user", "Hi")], Sampling(max_tokens=4))


def test_missing_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMTEAMS_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="no endpoint"):
        OpenAIBackend(OpenAIOptions())
