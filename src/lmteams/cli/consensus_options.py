"""Consensus flags shared by `lmteams ask` and `lmteams eval` (they override the team file's
``consensus:`` section)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from lmteams.cli.groups import option_group
from lmteams.consensus.catalog import STRATEGIES

PANEL = "Consensus"


def _flag(*names: str, help: str, **limits: Any) -> Any:
    """A consensus flag: shown in the Consensus panel; None (the team file's value) when not given."""
    return typer.Option(*names, help=help, show_default=False, rich_help_panel=PANEL, **limits)


ConsensusOption = Annotated[
    str | None,
    _flag(
        "--consensus",
        "-c",
        envvar="LMTEAMS_CONSENSUS",
        help=f"How the team decides: {', '.join(STRATEGIES)}. Default: the team file's, else majority.",
    ),
]
JudgeOption = Annotated[
    str | None,
    _flag(
        "--judge",
        help="Judge / aggregator node (judge, moa). Default: a node with role judge, else the first.",
    ),
]
RoundsOption = Annotated[
    int | None, _flag("--rounds", min=0, max=20, help="Debate revision rounds (default 2).")
]
LayersOption = Annotated[
    int | None, _flag("--layers", min=1, max=8, help="Mixture-of-agents layers (default 2).")
]
FaultsOption = Annotated[
    int | None,
    _flag(
        "--faults",
        min=0,
        help="Quorum: faulty nodes to tolerate, f (needs n >= 3f+1). Default: the most n allows.",
    ),
]
SimilarityOption = Annotated[
    str | None,
    _flag(
        "--similarity",
        help="Group free-text answers before voting: exact, edit, tokens, embedding.",
    ),
]
ThresholdOption = Annotated[
    float | None, _flag("--threshold", help="Similarity needed to share a group (0-1).")
]
StopConfidenceOption = Annotated[
    float | None,
    _flag(
        "--stop-confidence",
        help="Adaptive/cascade: also stop once this sure of the leader (0.5-1).",
    ),
]
NodeOption = Annotated[
    str | None, _flag("--node", help="The node for single / greedy (default: the first).")
]
AnswerFormatOption = Annotated[
    str | None,
    _flag(
        "--answer-format",
        help='First answers as free text or as JSON {"answer": ...} (text, json). '
        "Default: the team file's consensus.answer_format, else text.",
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
