"""The round protocol's pure rules: reading actions, refusing them, the prompt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.project import parse_project
from lmteams.scheduling.rounds import (
    Claim,
    Complete,
    Edit,
    Message,
    RunTests,
    Wait,
    parse_actions,
    recipients,
    refusal,
    resolve,
    round_limit,
    round_prompt,
    split_reply,
    stuck,
)

PROJECT = parse_project(
    {"project": "p", "tasks": [{"id": "a", "files": ["a.py"]}, {"id": "b", "dependencies": ["a"]}]},
    source="p",
)


def policy() -> DecentralizedPolicy:
    return DecentralizedPolicy(PROJECT.graph(), ["n0", "n1"])


def test_a_fenced_block_of_actions_is_read_in_order() -> None:
    text = 'a.py\n```python\nX = 1\n```\n```json\n{"actions": [{"action": "claim", "task": "a"}, {"action": "wait"}]}\n```'
    actions, problems = parse_actions(text)
    assert actions == [Claim(action="claim", task="a"), Wait(action="wait")]
    assert problems == []
    block, rest = split_reply(text)
    assert block is not None and "claim" in block
    assert "X = 1" in rest and "actions" not in rest


def test_a_bare_list_or_one_object_is_read_too() -> None:
    assert parse_actions('I claim: [{"action": "claim", "task": "a"}]')[0] == [
        Claim(action="claim", task="a")
    ]
    assert parse_actions('ok {"action": "run_tests"} thanks')[0] == [RunTests(action="run_tests")]


def test_a_dict_literal_in_code_is_not_an_action_block() -> None:
    block, _ = split_reply("```python\nD = {1: 2}\n```")
    assert block is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I will do task a.", "no actions: the reply has no JSON block"),
        ("```json\n{actions: [}\n```", "the actions block is not JSON"),
        ('{"actions": [{"action": "fly"}]}', "action 1: unknown action 'fly'"),
        ('{"actions": [{"action": "claim"}]}', "action 1: claim: task: Field required"),
        ('{"actions": [{"action": "claim", "task": "a", "x": 1}]}', "action 1: claim: x:"),
        ('{"actions": [3]}', "action 1: not an object: 3"),
        ('{"actions": [{"action": "message", "text": ""}]}', "action 1: message: text:"),
    ],
)
def test_an_invalid_action_is_refused_with_one_line(text: str, problem: str) -> None:
    actions, problems = parse_actions(text)
    assert actions == []
    assert len(problems) == 1 and problems[0].startswith(problem)
    assert "\n" not in problems[0]


def test_one_bad_action_does_not_spoil_the_rest() -> None:
    actions, problems = parse_actions(
        '{"actions": [{"action": "bogus"}, {"action": "complete", "task": "a"}]}'
    )
    assert actions == [Complete(action="complete", task="a")]
    assert problems == [
        "action 1: unknown action 'bogus'; one of: claim, complete, edit, run_tests, message, wait"
    ]


def test_too_many_actions_are_cut_and_counted() -> None:
    many = ",".join(['{"action": "wait"}'] * 25)
    actions, problems = parse_actions("[" + many + "]")
    assert len(actions) == 20 and problems == ["5 actions past the first 20"]


@given(st.text(max_size=200))
def test_parsing_never_raises(text: str) -> None:
    actions, problems = parse_actions(text)
    assert actions or problems


def test_refusals() -> None:
    p = policy()
    board = p.board
    kw = {"board": board, "agents": ["n0", "n1"]}
    claim_b = Claim(action="claim", task="b")
    assert refusal(claim_b, "n0", held=None, claims=True, **kw) is None  # the policy refuses it
    assert "assigned under this topology" in str(
        refusal(claim_b, "n0", held=None, claims=False, **kw)
    )
    assert refusal(claim_b, "n0", held="a", claims=True, **kw) == (
        "you hold a: complete it before claiming another"
    )
    p.claim("n1", "a")
    assert refusal(Complete(action="complete", task="a"), "n0", held=None, claims=True, **kw) == (
        "a is not yours (it is n1's)"
    )
    assert refusal(Complete(action="complete", task="a"), "n1", held="a", claims=True, **kw) is None
    assert refusal(Complete(action="complete", task="z"), "n1", held="a", claims=True, **kw) == (
        "unknown task 'z'"
    )
    edit = Edit(action="edit", path="a.py", content="X = 1\n")
    assert refusal(edit, "n0", held=None, claims=True, **kw) == (
        "you hold no task: claim one before editing files"
    )
    assert refusal(edit, "n1", held="a", claims=True, **kw) is None
    assert refusal(RunTests(action="run_tests", task="q"), "n0", held=None, claims=True, **kw)
    to_ghost = Message(action="message", text="hi", to="n9")
    assert "no agent named 'n9'" in str(refusal(to_ghost, "n0", held=None, claims=True, **kw))
    to_self = Message(action="message", text="hi", to="n0")
    assert refusal(to_self, "n0", held=None, claims=True, **kw) == "a message to yourself"
    p.task_done("a", "n1")
    assert refusal(Complete(action="complete", task="a"), "n0", held=None, claims=True, **kw) == (
        "a is already done"
    )


def test_a_premature_claim_is_refused_by_the_policy() -> None:
    p = policy()
    decisions = p.claim("n0", "b")
    assert p.refused == 1
    assert any(getattr(d, "detail", "") == "b waits for a" for d in decisions)


def test_recipients_limits_and_stuck() -> None:
    assert recipients(Message(action="message", text="x"), "n0", ["n0", "n1", "n2"]) == (
        "n1",
        "n2",
    )
    assert recipients(Message(action="message", text="x", to="n2"), "n0", ["n0", "n2"]) == ("n2",)
    assert round_limit(0, 2) == 20 and round_limit(0, 9) == 45 and round_limit(3, 9) == 3
    p = policy()
    assert not stuck(p.board)
    waiting = DecentralizedPolicy(
        parse_project(
            {"tasks": [{"id": "a", "dependencies": ["b"]}, {"id": "b"}]}, source="p"
        ).graph(),
        ["n0"],
    )
    waiting.claim("n0", "b")
    assert not stuck(waiting.board)  # b is held
    waiting.board.park("b", "a")  # b now waits on a, which waits on b: nothing can run
    assert stuck(waiting.board)


def test_the_prompt_shows_the_board_the_task_history_and_the_actions() -> None:
    text = round_prompt(
        PROJECT,
        node="n0",
        round_number=3,
        board="Done: nothing yet",
        agents=["n0", "n1"],
        claims=True,
        held=None,
        task_text=None,
        history=[f"line {i}" for i in range(20)],
    )
    assert "You are n0" in text and "round 3" in text and "the others: n1" in text
    assert "Claim an open task" in text and '"action": "claim"' in text
    assert "line 19" in text and "line 7" not in text  # the last 12 lines
    held = round_prompt(
        PROJECT,
        node="n1",
        round_number=1,
        board="",
        agents=["n0", "n1"],
        claims=False,
        held="a",
        task_text="Write: a.py",
        history=[],
    )
    assert "You hold task a.\nWrite: a.py" in held and '"action": "claim"' not in held


def test_a_task_named_by_title_or_in_a_phrase_is_resolved() -> None:
    project = parse_project(
        {"tasks": [{"id": "task-1", "title": "add(a, b)"}, {"id": "task-10", "title": "Ten"}]},
        source="p",
    )
    named = [
        resolve(Complete(action="complete", task=name), project).task  # type: ignore[union-attr]
        for name in ("add(a, b)", "TASK-1", "ten", "do task-10 now", "task-1")
    ]
    assert named == ["task-1", "task-1", "task-10", "task-10", "task-1"]
    unknown = Claim(action="claim", task="nothing")
    assert resolve(unknown, project) == unknown
    assert resolve(Wait(action="wait"), project) == Wait(action="wait")
