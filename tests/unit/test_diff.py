"""Which lines of a patch a review comment may name."""

from __future__ import annotations

from app.analysis.diff import added_lines, commentable_lines, numbered

PATCH = "\n".join(
    [
        "@@ -1,4 +1,5 @@",
        " import os",
        "-import sys",
        "+import json",
        "+import re",
        " ",
        " def main():",
        "@@ -20,3 +21,3 @@ def main():",
        "     x = 1",
        "-    return x",
        "+    return x + 1",
        "\\ No newline at end of file",
    ]
)


def test_right_side_lines_are_added_and_context() -> None:
    assert commentable_lines(PATCH) == {1, 2, 3, 4, 5, 21, 22}


def test_added_lines() -> None:
    assert added_lines(PATCH) == [(2, "import json"), (3, "import re"), (22, "    return x + 1")]


def test_numbered_patch_shows_new_line_numbers() -> None:
    text = numbered(PATCH).splitlines()
    assert text[1] == "   1  import os"
    assert text[2] == "     -import sys"
    assert text[3] == "   2 +import json"
    assert text[-2] == "  22 +    return x + 1"


def test_empty_patch_has_no_lines() -> None:
    assert commentable_lines("") == frozenset()
