from __future__ import annotations

from pathlib import Path

import pytest

GARDEN = """# Gardening notes

Tomatoes need full sun and regular watering.
Water tomatoes deeply twice a week.

## Pests

Aphids gather under leaves; spray them off with water.
Slugs eat lettuce at night.
"""

KITCHEN = """# Kitchen

## Bread

Knead the dough for ten minutes, then let it rise for an hour.
Bake bread at 220 degrees.

## Tomato sauce

Simmer tomatoes with garlic for forty minutes.
"""

CARS = "Changing the oil of a car every 10000 km keeps the engine healthy.\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small document collection: two Markdown files, a text file, and files to skip."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "garden.md").write_text(GARDEN)
    (root / "sub" / "kitchen.md").write_text(KITCHEN)
    (root / "cars.txt").write_text(CARS)
    (root / "image.png").write_bytes(b"\x89PNG tomatoes")
    (root / ".hidden" / "secret.md").write_text("tomatoes tomatoes tomatoes")
    (root / "latin1.md").write_bytes("caf\xe9 tomatoes".encode("latin-1"))
    return root
