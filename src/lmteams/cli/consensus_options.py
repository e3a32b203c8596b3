"""Consensus flags shared by `lmteams ask` and `lmteams eval` (they override the team file's
``consensus:`` section)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from lmteams.cli.groups import option_group
from lmteams.consensus.catalog import STRATEGIES

PANEL = "Consensus"

ConsensusOption = Annotated[
    str | None,
    typer.Option(
        "--consensus",
        "-c",
        envvar="LMTEAMS_CONSENSUS",
        help=f"How the team decides: {', '.join(STRATEGIES)}. Default: the team file's, else majority.",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
JudgeOption = Annotated[
    str | None,
    typer.Option(
        "--judge",
        help="Judge / aggregator node (judge, moa). Default: a node with role judge, else the first.",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
RoundsOption = Annotated[
    int | None,
    typer.Option(
        "--rounds", min=0, max=20, help="Debate revision rounds (default 2).", rich_help_panel=PANEL
    ),
]
LayersOption = Annotated[
    int | None,
    typer.Option(
        "--layers",
        min=1,
        max=8,
        help="Mixture-of-agents layers (default 2).",
        rich_help_panel=PANEL,
    ),
]
FaultsOption = Annotated[
    int | None,
    typer.Option(
        "--faults",
        min=0,
        help="Quorum: faulty nodes to tolerate, f (needs n >= 3f+1). Default: the most n allows.",
        rich_help_panel=PANEL,
    ),
]
SimilarityOption = Annotated[
    str | None,
    typer.Option(
        "--similarity",
        help="Group free-text answers before voting: exact, edit, tokens, embedding.",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold", help="Similarity needed to share a group (0-1).", rich_help_panel=PANEL
    ),
]
StopConfidenceOption = Annotated[
    float | None,
    typer.Option(
        "--stop-confidence",
        help="Adaptive/cascade: also stop once this sure of the leader (0.5-1).",
        rich_help_panel=PANEL,
    ),
]
NodeOption = Annotated[
    str | None,
    typer.Option(
        "--node",
        help="The node for single / greedy (default: the first).",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
AnswerFormatOption = Annotated[
    str | None,
    typer.Option(
        "--answer-format",
        help='First answers as free text or as JSON {"answer": ...} (text, json). '
        "Default: the team file's consensus.answer_format, else text.",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]


@option_group
class ConsensusFlags:
    """The strategy settings `ask` and `eval` take as flags (None: not given, the team file's)."""

    judge: JudgeOption = None
    rounds: RoundsOption = None
    layers: LayersOption = None
    faults: FaultsOption = None
    similarity: SimilarityOption = None
    threshold: ThresholdOption = None
    stop_confidence: StopConfidenceOption = None
    node: NodeOption = None
    answer_format: AnswerFormatOption = None

    def overrides(self) -> dict[str, Any]:
        """The flags as consensus settings, to override the team file's."""
        return dataclasses.asdict(self)
