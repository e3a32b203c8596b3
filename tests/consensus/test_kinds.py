from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.kinds import (
    KINDS,
    KindTable,
    classify,
    fit_table,
    model_size,
    needs_exploration,
    rank_nodes,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is 38 + 6?", "arithmetic"),
        ("What is 12 times 7?", "arithmetic"),
        ("How many seconds are in 3 minutes?", "arithmetic"),
        ("What is 15% of 80?", "arithmetic"),
        ("What is seventeen plus five?", "arithmetic"),
        ("What day of the week is 2024-03-01?", "dates"),
        ("What date is 10 days after March 3?", "dates"),
        ("Is 2100 a leap year?", "dates"),
        ("How many letters are in the word banana?", "strings"),
        ("Reverse the string 'hello'.", "strings"),
        ("Which word comes first in alphabetical order: pear or apple?", "strings"),
        ("Which is the smallest number: 61, 84, 49?", "logic"),
        ("If all bloops are razzies and all razzies are lazzies, are bloops lazzies?", "logic"),
        ("Ann is taller than Bo. Bo is taller than Cy. Who is the tallest?", "logic"),
        ("What is the capital of France?", "knowledge"),
        ("Which is larger, the sun or the moon?", "knowledge"),
        ("Who wrote Hamlet?", "knowledge"),
    ],
)
def test_classify(question: str, kind: str) -> None:
    assert classify(question) == kind
    assert kind in KINDS


def test_accuracy_is_smoothed_towards_the_nodes_overall_accuracy() -> None:
    table = fit_table(
        [("a", "arithmetic", True)] * 9 + [("a", "arithmetic", False)] + [("b", "dates", False)] * 4
    )
    assert table.answered("a", "arithmetic") == 10 and table.answered("a", "dates") == 0
    overall = (9 + 1) / (10 + 2)
    assert table.overall("a") == pytest.approx(overall)
    assert table.accuracy("a", "arithmetic") == pytest.approx((9 + 2 * overall) / 12)
    assert table.accuracy("a", "dates") == pytest.approx(overall)  # unseen: its overall
    assert table.accuracy("nobody", "dates") == pytest.approx(0.5)
    assert table.weight("a", "arithmetic") > table.weight("nobody", "dates") > 0
    assert table.weight("b", "dates") == 0.05  # worse than a coin still casts a small vote


def test_nodes_without_enough_labels_must_explore() -> None:
    table = KindTable({("a", "logic"): (3, 5), ("b", "logic"): (1, 2)})
    assert needs_exploration(table, "logic", ["a", "b", "c"], 5) == ["b", "c"]
    assert needs_exploration(table, "logic", ["a", "b"], 0) == []


def test_model_size_from_names() -> None:
    assert model_size("qwen2.5-coder-0.5b") == 5e8
    assert model_size("smol", "/x/SmolLM2-135M-Instruct.Q4_1.gguf") == 135e6
    assert model_size("gpt-4o-mini", "scripted") is None


def test_rank_best_first_cheapest_among_the_equally_good() -> None:
    table = fit_table(
        [("big", "dates", True)] * 20
        + [("small", "dates", True)] * 19
        + [("small", "dates", False)]
        + [("weak", "dates", False)] * 20
    )
    cost = {"big": (0.0, 1.5e9), "small": (0.0, 1.35e8), "weak": (0.0, 1e8)}
    nodes = ["weak", "big", "small"]
    assert rank_nodes(nodes, "dates", table, cost, 0.0) == ["big", "small", "weak"]
    assert rank_nodes(nodes, "dates", table, cost, 0.1) == ["small", "big", "weak"]
    assert rank_nodes(nodes, "dates", table, cost, 1.0) == ["weak", "small", "big"]
    unknown = {n: (0.0, math.inf) for n in nodes}
    assert rank_nodes(nodes, "logic", KindTable(), unknown, 0.0) == nodes  # team order


@given(
    accuracies=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=6),
    sizes=st.lists(st.floats(1e6, 1e10), min_size=6, max_size=6),
    margin=st.floats(0.0, 1.0),
)
def test_rank_is_a_permutation_led_by_a_near_best_node(
    accuracies: list[tuple[int, int]], sizes: list[float], margin: float
) -> None:
    nodes = [f"n{i}" for i in range(len(accuracies))]
    rows = [
        (node, "logic", index < right)
        for node, (right, wrong) in zip(nodes, accuracies, strict=True)
        for index in range(right + wrong)
    ]
    table = fit_table(rows)
    cost = {n: (0.0, sizes[i]) for i, n in enumerate(nodes)}
    order = rank_nodes(nodes, "logic", table, cost, margin)
    assert sorted(order) == sorted(nodes)
    best = max(table.accuracy(n, "logic") for n in nodes)
    assert table.accuracy(order[0], "logic") >= best - margin - 1e-9
    equally_good = [n for n in nodes if table.accuracy(n, "logic") >= best - margin - 1e-12]
    assert cost[order[0]] == min(cost[n] for n in equally_good)  # cheapest of the best first


@given(st.text(max_size=200))
def test_every_text_has_a_kind(text: str) -> None:
    assert classify(text) in KINDS
