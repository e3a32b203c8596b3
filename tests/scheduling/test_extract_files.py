"""Reading the files a node wrote out of its reply (``scheduling.prompts.extract_files``)."""

from __future__ import annotations

from lmteams.scheduling.prompts import extract_files

REPLY_FROM_QWEN = """```python
# repo/add.py

def add(a: float, b: float) -> float:
    return a + b
```"""


def test_a_file_named_under_an_imagined_folder_is_the_expected_file() -> None:
    """Seen from Qwen2.5-Coder-0.5B on the study's projects: '# repo/add.py' for add.py."""
    files = extract_files(REPLY_FROM_QWEN, ["add.py"])
    assert list(files) == ["add.py"]
    assert "return a + b" in files["add.py"]


def test_a_path_that_only_ends_alike_is_not_taken() -> None:
    reply = "```python\n# madd.py\nx = 1\n```"
    assert "add.py" not in extract_files(reply, ["add.py"])


def test_names_given_for_several_files_keep_their_paths() -> None:
    reply = "a.py\n```python\nA = 1\n```\n\nsrc/b.py\n```python\nB = 2\n```"
    files = extract_files(reply, ["a.py", "b.py"])
    assert files["a.py"] == "A = 1\n" and files["b.py"] == "B = 2\n"
