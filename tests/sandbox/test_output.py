"""Output is read as it comes: capped in memory, and kept when a time limit kills the program."""

from __future__ import annotations

import resource

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.sandbox import CappedOutput, python_argv, run_sandboxed
from lmteams.sandbox_settings import SandboxLimits


async def run_python(code: str, **limits: object):  # type: ignore[no-untyped-def]
    return await run_sandboxed(
        python_argv(), files={"main.py": code}, limits=SandboxLimits.model_validate(limits)
    )


async def test_huge_output_is_capped_without_being_buffered() -> None:
    code = (
        "import sys\nchunk = 'y' * 65536\n"
        "for _ in range(2048):\n    sys.stdout.write(chunk)\n"  # 128 MiB
        "sys.stdout.write('\\nEND\\n')\n"
    )
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await run_python(code, output_limit_bytes=10_000, time_limit_s=120)
    peak_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.encode()) <= 10_000
    assert result.stdout.endswith("END\n") and result.stdout.startswith("y" * 4000)
    assert result.output_cut_bytes > 128 * 1024 * 1024 - 10_000
    # the whole output buffered would have raised this process's peak by 128 MiB
    assert peak_after_kib - peak_before_kib < 64 * 1024


async def test_output_printed_before_a_timeout_is_kept() -> None:
    code = (
        "import sys, time\nprint('started', flush=True)\n"
        "print('warning on stderr', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    result = await run_python(code, time_limit_s=2)
    assert result.timed_out and result.returncode is None
    assert result.stdout == "started\n"
    assert "warning on stderr" in result.stderr
    assert "started" in result.summary()


async def test_output_of_a_program_killed_mid_stream_is_kept() -> None:
    code = "import time\nfor i in range(1000):\n    print('line', i, flush=True)\n    time.sleep(0.01)\n"
    result = await run_python(code, time_limit_s=1)
    assert result.timed_out
    assert result.stdout.startswith("line 0\nline 1\n")


@given(
    st.lists(st.binary(max_size=700), max_size=30),
    st.integers(min_value=256, max_value=2000),
)
def test_capped_output_keeps_head_and_tail_within_the_cap(chunks: list[bytes], cap: int) -> None:
    sink = CappedOutput(cap)
    for chunk in chunks:
        sink.feed(chunk)
    whole = b"".join(chunks)
    kept = sink.value()
    assert len(kept) <= cap
    if len(whole) <= cap:
        assert kept == whole and sink.cut_bytes == 0
    else:
        head, _, tail = kept.partition(b"\n[... ")
        assert whole.startswith(head) and len(head) == cap // 2
        cut = int(tail.split(b" bytes cut ...]\n")[0])
        rest = tail.split(b" bytes cut ...]\n", 1)[1]
        assert whole.endswith(rest)
        assert len(head) + cut + len(rest) == len(whole)


@pytest.mark.parametrize("limit", [0, 255, 16_000_001])
def test_output_limit_out_of_range_is_refused(limit: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="output_limit_bytes"):
        SandboxLimits(output_limit_bytes=limit)
