"""`lmteams serve-model` with the real SmolLM2, as a user starts it: no key, on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest

from lmteams.models.embedded import EmbeddedOptions, resolve_key
from lmteams.serve.engine import EngineHandler
from lmteams.serve.limits import prompt_token_bound
from lmteams.serve.protocol import ApiError, Message

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    """The base URL of a keyless server, and the status of the first request sent on reading
    the "serving" line (sent at once, with no retry)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", "serve-model", "--port", "0", "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    url = first_status = None
    deadline = time.monotonic() + 240
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"serving smollm2 at (http://127\.0\.0\.1:\d+/v1)", line)
        if match:
            url = match.group(1)
            with httpx2.Client(trust_env=False, timeout=30) as http:
                first_status = http.get(url + "/models").status_code
            break
    if url is None or first_status is None:
        proc.kill()
        pytest.fail("serve-model did not start: " + "".join(lines))
    yield url, first_status
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_the_serving_line_comes_once_the_server_answers(served: tuple[str, int]) -> None:
    assert served[1] == 200


def test_a_keyless_loopback_server_serves_the_openai_client(served: tuple[str, int]) -> None:
    # The SDK insists on some key; a keyless server accepts whatever is sent.
    client = openai.OpenAI(base_url=served[0], api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=4,
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=10**9
        )
    client.close()


async def test_the_engine_counts_tokens_within_the_cheap_bound() -> None:
    handler = EngineHandler(resolve_key(EmbeddedOptions(n_parallel=1, ctx_per_slot=512)), "smol")
    try:
        await handler.wait_ready()
        for messages in (
            [Message(role="user", content="Hi")],
            [
                Message(role="system", content="Answer in French."),
                Message(role="user", content="Combien font 17 + 25 ? Réponds vite, s'il te plaît."),
            ],
            [Message(role="user", content="日本語のテキスト " * 20)],
        ):
            body = {"messages": [m.model_dump(exclude_none=True) for m in messages]}
            tokens = await handler.count_prompt_tokens("smol", body)
            assert 0 < tokens <= prompt_token_bound(messages)
        too_long = {"messages": [{"role": "user", "content": "word " * 600}], "max_tokens": 4}
        with pytest.raises(ApiError) as refused:
            await handler.complete("smol", too_long)
        assert refused.value.status == 400 and refused.value.code == "context_length_exceeded"
    finally:
        await handler.aclose()
