"""PNG figures with matplotlib (imported lazily, Agg backend): speedup against Amdahl, token
cost against n, a per-node Gantt chart of one run with its claims and lead calls beneath,
per-task cost, and message counts between nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmteams.analysis.metrics import RunMetrics
from lmteams.scheduling.graph import amdahl


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Write the figure as a PNG at ``path`` and free it (pyplot keeps open figures alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def speedup_plot(
    medians: Sequence[dict[str, Any]],
    p: float,
    path: Path,
    *,
    lower_bound: dict[int, float] | None = None,
    intervals: dict[tuple[str, int], tuple[float, float]] | None = None,
    title: str | None = None,
) -> Path:
    """Median speedup per topology against n, the Amdahl curve and the DAG bound;
    ``intervals`` ((topology, n) -> (low, high)) draws confidence intervals as error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ns = sorted({m["workers"] for m in medians})
    grid = [n / 10 for n in range(10, 10 * max(ns) + 1)]
    ax.plot(grid, [amdahl(p, n) for n in grid], "k--", label=f"Amdahl (p = {p:.2f})")
    if lower_bound:
        ax.plot(
            sorted(lower_bound),
            [lower_bound[n] for n in sorted(lower_bound)],
            "k:",
            label="DAG bound",
        )
    for topology in sorted({m["topology"] for m in medians}):
        # cells without a successful run have no median: no point, rather than a fake one
        points = [m for m in medians if m["topology"] == topology and m["speedup"] is not None]
        if not points:
            continue
        line = ax.plot(
            [m["workers"] for m in points], [m["speedup"] for m in points], "o-", label=topology
        )
        for m in points:
            if "done" in m and m["done"] < m["runs"]:
                ax.annotate(
                    f"{m['done']}/{m['runs']}",
                    (m["workers"], m["speedup"]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
        if intervals:
            spans = [intervals.get((topology, m["workers"])) for m in points]
            shown = [(m, s) for m, s in zip(points, spans, strict=True) if s is not None]
            ax.errorbar(
                [m["workers"] for m, _ in shown],
                [m["speedup"] for m, _ in shown],
                yerr=[
                    [max(0.0, m["speedup"] - s[0]) for m, s in shown],
                    [max(0.0, s[1] - m["speedup"]) for m, s in shown],
                ],
                fmt="none",
                ecolor=line[0].get_color(),
                capsize=3,
            )
    if title:
        ax.set_title(title)
    ax.set_xlabel("workers (n)")
    ax.set_ylabel("median speedup")
    ax.set_xticks(ns)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)


def tokens_plot(medians: Sequence[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for topology in sorted({m["topology"] for m in medians}):
        points = [m for m in medians if m["topology"] == topology and m["token_ratio"] is not None]
        ax.plot(
            [m["workers"] for m in points], [m["token_ratio"] for m in points], "o-", label=topology
        )
    ax.set_xlabel("workers (n)")
    ax.set_ylabel("tokens relative to n = 1 (median)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)


@dataclass(frozen=True, slots=True)
class Mark:
    """One instant on the coordination timeline: a claim granted or refused, by a node."""

    t: float
    node: str
    kind: str  # claimed | refused


MARK_STYLE = {
    "claimed": ("^", "tab:green", "claim granted"),
    "refused": ("x", "tab:red", "claim refused"),
}
CALL_COLORS = {"claim": "tab:purple", "lead": "tab:blue"}


def gantt_plot(metrics: RunMetrics, path: Path, *, marks: Sequence[Mark] = ()) -> Path:
    """The tasks per node over time; below it, on the same time axis, the coordination:
    claim and lead calls as bars, claims granted and refused as marks."""
    plt = _pyplot()
    nodes = [n.node for n in metrics.nodes] or sorted({s.node for s in metrics.spans})
    coordination = bool(metrics.call_spans or marks)
    coord_nodes = list(nodes)
    for name in [c.node for c in metrics.call_spans] + [m.node for m in marks]:
        if name not in coord_nodes:  # the lead is not a worker: it gets its own row
            coord_nodes.append(name)
    height = 0.5 * len(nodes) + 1.5
    if coordination:
        lower = 0.35 * len(coord_nodes) + 1.0
        fig, (ax, cx) = plt.subplots(
            2, 1, figsize=(8, height + lower), sharex=True, height_ratios=[height, lower]
        )
    else:
        fig, ax = plt.subplots(figsize=(8, height))
    colors = {"done": "tab:green", "failed": "tab:red", "interrupted": "tab:orange"}
    for span in metrics.spans:
        if span.node not in nodes:
            continue
        row = nodes.index(span.node)
        ax.barh(
            row,
            span.end - span.start,
            left=span.start,
            color=colors.get(span.outcome, "tab:gray"),
            edgecolor="black",
            linewidth=0.5,
        )
        if span.end - span.start > metrics.makespan_s / 40:
            ax.text(
                (span.start + span.end) / 2, row, span.task, ha="center", va="center", fontsize=6
            )
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels(nodes)
    ax.invert_yaxis()
    ax.set_title(f"{metrics.run_id} ({metrics.topology}, n = {metrics.workers})")
    if coordination:
        _coordination(cx, metrics, marks, coord_nodes)
        cx.set_xlabel("time since start (s)")
    else:
        ax.set_xlabel("time since start (s)")
    return _save(plt, fig, path)


def _coordination(ax: Any, metrics: RunMetrics, marks: Sequence[Mark], nodes: list[str]) -> None:
    """Claims and lead calls per node: a decentralized run that spends its time on refused
    claims, or a lead whose calls gate every round, must not look idle-free."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = {n: i for i, n in enumerate(nodes)}
    for call in metrics.call_spans:
        ax.barh(
            rows[call.node],
            max(call.end - call.start, metrics.makespan_s / 400),
            left=call.start,
            height=0.5,
            color=CALL_COLORS.get(call.kind, "tab:gray"),
        )
    for kind, (marker, color, _) in MARK_STYLE.items():
        shown = [m for m in marks if m.kind == kind]
        if shown:
            ax.scatter(
                [m.t for m in shown],
                [rows[m.node] for m in shown],
                marker=marker,
                color=color,
                s=28,
                zorder=3,
            )
    handles: list[Any] = [
        Patch(color=CALL_COLORS[k], label=f"{k} calls")
        for k in sorted({c.kind for c in metrics.call_spans})
    ]
    handles += [
        Line2D(
            [],
            [],
            marker=MARK_STYLE[k][0],
            color=MARK_STYLE[k][1],
            linestyle="",
            label=MARK_STYLE[k][2],
        )
        for k in sorted({m.kind for m in marks})
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels(nodes, fontsize=8)
    ax.set_ylim(len(nodes) - 0.5, -0.5)
    ax.set_title("claims and lead calls", fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def message_pairs_plot(
    pairs: dict[tuple[str, str], int], path: Path, *, title: str = "messages"
) -> Path:
    """A sender x recipient heatmap of message counts."""
    plt = _pyplot()
    names = sorted({a for a, _ in pairs} | {b for _, b in pairs}, key=_node_order)
    size = len(names)
    grid = [[pairs.get((a, b), 0) for b in names] for a in names]
    side = min(12.0, 1.5 + 0.45 * size)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(grid, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8, label="messages")
    if size <= 40:
        ax.set_xticks(range(size))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_yticks(range(size))
        ax.set_yticklabels(names, fontsize=7)
    if size <= 16:
        top = max((max(row) for row in grid), default=0)
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                if value:
                    color = "white" if value > top / 2 else "black"
                    ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("recipient")
    ax.set_ylabel("sender")
    ax.set_title(title)
    return _save(plt, fig, path)


def _node_order(name: str) -> tuple[int, str]:
    return (0 if name == "coordinator" else 1, name)


def agreement_plot(decisions: Sequence[dict[str, Any]], path: Path) -> Path:
    """Consensus: one decision's vote split, or the spread of agreement over many."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(decisions) == 1:
        decision = decisions[0]
        split = decision.get("split") or {}
        labels = [str(k)[:24] for k in split]
        ax.bar(range(len(labels)), list(split.values()), color="tab:blue")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("votes")
        ax.set_title(
            f"answer {decision.get('answer')!r}: agreement {decision.get('agreement', 0):.0%}"
        )
    else:
        values = [float(d.get("agreement") or 0.0) for d in decisions]
        ax.hist(values, bins=[i / 10 for i in range(11)], color="tab:blue", edgecolor="black")
        ax.set_xlabel("agreement (share of votes behind the answer)")
        ax.set_ylabel("decisions")
        mean = sum(values) / len(values) if values else 0.0
        ax.set_title(f"{len(values)} decisions, mean agreement {mean:.0%}")
    return _save(plt, fig, path)
