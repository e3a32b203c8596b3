from __future__ import annotations

import asyncio
import time

import pytest

from lmteams.runtime.clock import VirtualClock, now_s


async def test_virtual_sleep_takes_no_wall_time() -> None:
    wall = time.monotonic()
    with VirtualClock() as clock:
        await asyncio.sleep(3600)
        assert clock.time() == pytest.approx(3600)
        assert now_s() == pytest.approx(3600)
    assert time.monotonic() - wall < 1.0


async def test_virtual_timeouts_fire_in_order() -> None:
    order = []

    async def sleeper(delay: float) -> None:
        await asyncio.sleep(delay)
        order.append(delay)

    with VirtualClock():
        await asyncio.gather(sleeper(3), sleeper(1), sleeper(2))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(10)
    assert order == [1, 2, 3]


async def test_loop_time_is_restored() -> None:
    loop = asyncio.get_running_loop()
    with VirtualClock(start_s=1e9):
        assert loop.time() == 1e9
    assert loop.time() < 1e9
