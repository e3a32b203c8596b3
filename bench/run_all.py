"""Run every benchmark in bench/ in turn (what `make bench` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "peers.py",
    "overhead.py",
    "eventlog.py",
    "engines.py",
    "scheduling.py",
    "consensus.py",
    "faults.py",
    "balancing.py",
    "simulator.py",
    "paper.py",
    "ray.py",
]


def main() -> int:
    extra = sys.argv[1:]
    failed = []
    for name in ORDER:
        path = HERE / name
        if not path.exists():
            continue
        print(f"=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(path), *extra]).returncode != 0:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
