"""`lmteams index PATH...` builds a document index for retrieval nodes; `lmteams search` tries it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from lmteams.cli.options import JsonOption, out_option
from lmteams.cli.render import clip, write_json
from lmteams.errors import ConfigError
from lmteams.tools.index import (
    DEFAULT_CHUNK_LINES,
    DEFAULT_GLOBS,
    build_index,
    open_index,
    search,
)
from lmteams.tools.retrieval import citation_of

DEFAULT_INDEX = Path(".lmteams") / "index.db"


def index_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and directories to index.", show_default=False)
    ],
    out: Annotated[
        Path, out_option("Index file to write (replaced if it exists).")
    ] = DEFAULT_INDEX,
    glob: Annotated[
        list[str] | None,
        typer.Option(
            "--glob",
            "-g",
            help=f"File pattern to index in directories (repeatable). "
            f"Default: {' '.join(DEFAULT_GLOBS)}.",
            show_default=False,
        ),
    ] = None,
    chunk_lines: Annotated[
        int, typer.Option("--chunk-lines", min=4, max=1000, help="Lines per passage.")
    ] = DEFAULT_CHUNK_LINES,
    json_output: JsonOption = False,
) -> None:
    """Index documents for a `retrieval` node: passages in SQLite FTS5, ranked by BM25.

    Files are cut into passages at Markdown headings and every few lines; each passage keeps
    its file and line span, which retrieval replies cite. Hidden directories are skipped.
    Point a team's retrieval model at the file with `index: PATH`.

    Example: lmteams index README.md docs --out docs.db
    """
    globs = tuple(glob) if glob else DEFAULT_GLOBS
    if json_output:
        stats = build_index(paths, out, globs=globs, chunk_lines=chunk_lines)
        write_json(stats)
        return
    console = Console()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        task = progress.add_task("indexing", total=None)

        def on_file(path: Path) -> None:
            progress.update(task, description=f"indexing {clip(str(path), 70)}")

        stats = build_index(paths, out, globs=globs, chunk_lines=chunk_lines, on_file=on_file)
    console.print(
        f"Indexed {stats.files} file(s) into {stats.chunks} passages "
        f"({stats.bytes / 1024:.0f} KiB) in {stats.seconds:.2f}s: [bold]{stats.path}[/]"
    )
    for skipped in stats.skipped:
        console.print(f"[yellow]skipped[/] {skipped}")


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for (free text).")],
    index: Annotated[
        Path, typer.Option("--index", "-i", help="Index file built by `lmteams index`.")
    ] = DEFAULT_INDEX,
    top_k: Annotated[int, typer.Option("--top", "-k", min=1, max=50, help="Passages.")] = 3,
    json_output: JsonOption = False,
) -> None:
    """Search an index as a retrieval node would: the best passages with their citations.

    Example: lmteams search "how are replicas balanced" --index docs.db
    """
    try:
        conn = open_index(index)
    except ConfigError as exc:
        raise ConfigError(exc.problem, field="--index") from None
    try:
        passages = search(conn, query, top_k)
    finally:
        conn.close()
    if json_output:
        hits = [
            {**citation_of(n, p).model_dump(), "heading": p.heading, "text": p.text}
            for n, p in enumerate(passages, 1)
        ]
        write_json(hits)
        return
    console = Console()
    if not passages:
        console.print(f"No passages match {query!r} in {index}.")
        return
    for n, passage in enumerate(passages, 1):
        citation = citation_of(n, passage)
        heading = f" · {passage.heading}" if passage.heading else ""
        console.print(
            f"[bold][{n}] {citation.label()}[/]{heading} [dim](score {citation.score:.2f})[/]",
            highlight=False,
        )
        console.print(passage.text, markup=False, highlight=False)
        console.print()


COMMANDS = [("index", index_command, 60), ("search", search_command, 61)]
