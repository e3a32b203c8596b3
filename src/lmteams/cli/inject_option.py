"""The ``--inject`` option: fault injection from the command line (see docs/faults.md)."""

from __future__ import annotations

from typing import Annotated

import typer

InjectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--inject",
        help=(
            "Inject faults, e.g. 'n1:crash=3; n2:slow=10; role:critic:error=0.2; "
            "n4:byzantine=1'. Effects: crash=K, hang=K, slow=F, error=P or error=P/KIND, retry_after=S, "
            "garbage=P, byzantine=P, wrong=TEXT; NODE is a name, role:NAME or *; seed=N. "
            "Added to the team file's faults: section. Repeatable."
        ),
        show_default=False,
    ),
]
