"""Structured first answers (consensus ``answer_format: json``): the schema and the prompt.

Each node is asked for ``{"answer": ...}``: the question is followed by one line naming the
shape, and a backend that can constrain its output (llama.cpp's grammar for the embedded
models, ``response_format`` for OpenAI-compatible servers) is also given a JSON schema of the
question's kind, so the reply cannot be anything else. The reply is read JSON-first
(:func:`lmteams.consensus.answers.json_first`), falling back to the text rules. Pure.
"""

from __future__ import annotations

from typing import Any

from lmteams.consensus.answers import QuestionView, read_question

_VALUE: dict[str, dict[str, Any]] = {
    "number": {"type": "number"},
    "yesno": {"type": "string", "enum": ["yes", "no"]},
    "text": {"type": "string"},
}
_HINT = {
    "number": "<the number>",
    "yesno": '"yes" or "no"',
    "choice": '"<the letter>"',
    "text": '"<the answer, in a few words>"',
}


def answer_schema(view: QuestionView) -> dict[str, Any]:
    """The JSON schema of a first answer to a question of ``view.kind``: an object with one
    ``answer`` (a number; "yes"/"no"; one of the offered letters; a string)."""
    if view.kind == "choice" and view.letters:
        value: dict[str, Any] = {"type": "string", "enum": sorted(set(view.letters.values()))}
    else:
        value = _VALUE.get(view.kind, _VALUE["text"])
    return {
        "type": "object",
        "properties": {"answer": value},
        "required": ["answer"],
        "additionalProperties": False,
    }


def structured_prompt(question: str, view: QuestionView) -> str:
    """The question, then the reply's shape in one line."""
    hint = _HINT.get(view.kind, _HINT["text"])
    return f'{question}\nReply with JSON only: {{"answer": {hint}}}'


def structured_request(
    question: str, schema: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The prompt and the schema for a structured first answer to ``question`` (``schema``:
    the team's own ``answer_schema``, else the question kind's)."""
    view = read_question(question)
    return structured_prompt(question, view), schema or answer_schema(view)
