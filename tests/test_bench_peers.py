"""bench/peers.py --layers: the figures it prints are the layers it names, each measured.

No duration is asserted (that is the benchmark's business): only that every layer is timed,
in the order the table reads them, and that the calls it made are in the log.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from lmteams.state.store import EventStore

BENCH = Path(__file__).resolve().parents[1] / "bench" / "peers.py"


def load_peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_every_layer_of_the_ask_path_is_timed(tmp_path: Path) -> None:
    peers = load_peers()
    figures = await peers.layers_us(3, 2, tmp_path / "layers.db")
    assert list(figures) == ["model", "node worker", "runtime", "team call", "commit", "ask"]
    assert all(us > 0 for us in figures.values())
    with EventStore(tmp_path / "layers.db") as store:
        (run,) = store.runs()
        messages = store.count_events(run.run_id) - 2  # less the run's start and end
        decisions = len(store.events(run.run_id, types=["decision"]))
    # the team calls (3 nodes x 2 rounds) and the asks (a warm-up and 2 rounds of 3 calls),
    # a request and a reply each, and one decision per ask
    assert decisions == 3
    assert messages - decisions == 2 * (3 * 2 + 3 * 3)


async def test_the_durable_floor_commits_every_message_and_decision(tmp_path: Path) -> None:
    peers = load_peers()
    assert await peers.durable_floor_us(3, 2, tmp_path / "floor.db") > 0
    with EventStore(tmp_path / "floor.db") as store:
        kinds = store.query("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type")
    # 2 rounds of 3 calls, a request and a reply each, and a decision per round
    assert kinds == [("decision", 2), ("message", 12)]
