"""Unified-diff arithmetic for review comments: which lines of a file's `patch` GitHub accepts.

GitHub refuses a whole review (422) when one comment names a line outside the diff, so every
comment is checked against the hunks first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.analysis.lines import git_lines

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class FileDiff:
    path: str
    patch: str

    @property
    def right_lines(self) -> frozenset[int]:
        return commentable_lines(self.patch)


def commentable_lines(patch: str) -> frozenset[int]:
    """New-file line numbers that appear in the hunks: added lines and their context."""
    lines: set[int] = set()
    new_line = 0
    for text in git_lines(patch):
        header = HUNK.match(text)
        if header:
            new_line = int(header[3])
            continue
        if text.startswith("-") or text.startswith("\\"):
            continue  # removed lines and "\ No newline at end of file" are not on the right
        lines.add(new_line)
        new_line += 1
    return frozenset(lines)


def added_lines(patch: str) -> list[tuple[int, str]]:
    """(new line number, text) of every added line."""
    found = []
    new_line = 0
    for text in git_lines(patch):
        header = HUNK.match(text)
        if header:
            new_line = int(header[3])
        elif text.startswith("+"):
            found.append((new_line, text[1:]))
            new_line += 1
        elif not text.startswith("-") and not text.startswith("\\"):
            new_line += 1
    return found


def numbered(patch: str) -> str:
    """The patch with each right-side line prefixed by its new line number, for the model."""
    out = []
    new_line = 0
    for text in git_lines(patch):
        header = HUNK.match(text)
        if header:
            new_line = int(header[3])
            out.append(text)
        elif text.startswith("-") or text.startswith("\\"):
            out.append(f"     {text}")
        else:
            out.append(f"{new_line:>4} {text}")
            new_line += 1
    return "\n".join(out)
