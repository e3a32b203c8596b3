"""Structured first answers: the schema of each question kind, the prompt, the JSON-first reader."""

from __future__ import annotations

import jsonschema
import pytest

from lmteams.consensus.answers import extract_for, json_first, read_question
from lmteams.consensus.structured import answer_schema, structured_prompt, structured_request


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("What is 17 + 25?", {"type": "number"}),
        ("Is 7 a prime number?", {"type": "string", "enum": ["yes", "no"]}),
        (
            "Which planet is largest? A) Mars B) Jupiter C) Venus",
            {"type": "string", "enum": ["A", "B", "C"]},
        ),
        ("What is the capital of France?", {"type": "string"}),
    ],
)
def test_each_question_kind_has_its_schema(question: str, value: dict[str, object]) -> None:
    schema = answer_schema(read_question(question))
    assert schema["properties"] == {"answer": value}
    assert schema["required"] == ["answer"] and schema["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_prompt_names_the_shape_and_a_given_schema_wins() -> None:
    view = read_question("Is 7 a prime number?")
    assert structured_prompt("Is 7 a prime number?", view).endswith(
        'Reply with JSON only: {"answer": "yes" or "no"}'
    )
    own = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    prompt, schema = structured_request("What is 2 + 2?", own)
    assert prompt.startswith("What is 2 + 2?\n") and schema is own
    assert structured_request("What is 2 + 2?")[1]["properties"]["answer"] == {"type": "number"}


@pytest.mark.parametrize(
    ("question", "reply", "key"),
    [
        ("What is 17 + 25?", '{"answer": 42}', "42"),
        ("What is 17 + 25?", '{"answer": 42.0}', "42"),
        ("What is 17 + 25?", 'Sure: {"answer": "forty-two"}', "42"),
        ("Is 7 a prime number?", '{"answer": "yes"}', "yes"),
        ("Is 7 a prime number?", '{"answer": false}', "no"),
        ("What is the largest planet?", '{"answer": "Jupiter"}', "jupiter"),
        ("What is the largest planet?", '{"answer": "The largest planet is Jupiter."}', "jupiter"),
        # no JSON, or no answer in it: the text rules read the reply as they always do
        ("What is 17 + 25?", "17 + 25 = 42. Answer: 42", "42"),
        ("What is 17 + 25?", '{"result": 41} so the answer is 42', "42"),
        ("What is 17 + 25?", '{"answer": null} Answer: 42', "42"),
        ("What is the largest planet?", "The largest planet is Jupiter.", "jupiter"),
    ],
)
def test_json_first_then_the_text_rules(question: str, reply: str, key: str) -> None:
    assert json_first(extract_for(question))(reply).key == key


def test_an_answer_the_extractor_cannot_read_falls_back_to_the_whole_reply() -> None:
    read = json_first(extract_for("What is 17 + 25?", "number"))
    assert read('{"answer": "none"} Answer: 42').key == "42"
    assert read('{"answer": "none"}').empty
