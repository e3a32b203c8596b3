"""A reply's line names a file whole, exactly as the regular expression it replaces."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lmteams.scheduling.prompts import _names

PIECES = st.sampled_from(["add.py", "test_", "/", ".", "-", "_", " ", "x", "1", ":", "py", "é"])


@given(st.lists(PIECES, max_size=12).map("".join), st.sampled_from(["add.py", "a-b.py", "m1.py"]))
def test_a_line_names_a_path_whole_as_the_pattern_says(line: str, path: str) -> None:
    pattern = rf"(?<![\w./-]){re.escape(path)}(?![\w-])"
    assert _names(line, path) is (re.search(pattern, line) is not None)
