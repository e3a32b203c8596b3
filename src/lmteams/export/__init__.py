"""Data out of the event log: flat tables (:mod:`.tables`) and OpenTelemetry traces (:mod:`.trace`).

Both read a run back through :class:`~lmteams.state.store.EventStore`'s API and nothing else,
so they work the same on a run that is still open, finished, or resumed. See docs/export.md.
"""

from __future__ import annotations

from pathlib import Path

from lmteams.export.tables import TABLE_FORMATS, TableFormat, tables, write_tables
from lmteams.state.store import EventStore

__all__ = ["TABLE_FORMATS", "TableFormat", "export_tables", "tables", "write_tables"]


def export_tables(store: EventStore, run_id: str, out_dir: Path, fmt: TableFormat) -> list[Path]:
    """Write the tables of run ``run_id`` (or a unique prefix) into ``out_dir``; the files."""
    run = store.run(run_id)
    return write_tables(tables(run, store.events(run.run_id)), out_dir, fmt)
