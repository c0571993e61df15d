"""Applying a model's edits to a file: pure, checked, bottom-up so line numbers stay valid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.analysis.lines import git_lines_keepends

PROTECTED = (".github/workflows/",)


class EditError(ValueError):
    """The edits cannot be applied as given."""


def protected(path: str) -> bool:
    """Paths we never change: a workflow edit could widen what CI runs with our token."""
    return path.startswith(PROTECTED) or ".." in path.split("/") or path.startswith("/")


def apply(text: str, edits: Sequence[Mapping[str, Any]]) -> str:
    """`text` with each edit's lines start_line..end_line (1-based, inclusive) replaced."""
    lines = git_lines_keepends(text)
    spans = sorted(((int(e["start_line"]), int(e["end_line"]), e) for e in edits), reverse=True)
    floor = len(lines) + 1
    for start, end, edit in spans:
        if not 1 <= start <= end <= len(lines):
            raise EditError(f"lines {start}-{end} are outside the file's {len(lines)} lines")
        if end >= floor:
            raise EditError(f"edits overlap at line {end}")
        replacement = str(edit["replacement"])
        if replacement and not replacement.endswith("\n"):
            replacement += "\n"
        lines[start - 1 : end] = [replacement] if replacement else []
        floor = start
    return "".join(lines)


def by_path(edits: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for edit in edits:
        grouped.setdefault(str(edit["path"]), []).append(edit)
    return grouped
