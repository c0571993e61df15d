"""Edits applied to a file's text, bottom-up and checked."""

from __future__ import annotations

import pytest

from app.analysis.edits import EditError, apply, by_path, protected

TEXT = "one\ntwo\nthree\nfour\n"


def edit(start: int, end: int, replacement: str, path: str = "f.py") -> dict[str, object]:
    return {"path": path, "start_line": start, "end_line": end, "replacement": replacement}


def test_edits_apply_bottom_up() -> None:
    changed = apply(TEXT, [edit(1, 1, "ONE"), edit(3, 4, "THREE AND FOUR\nFIVE")])
    assert changed == "ONE\ntwo\nTHREE AND FOUR\nFIVE\n"


def test_an_empty_replacement_deletes_lines() -> None:
    assert apply(TEXT, [edit(2, 3, "")]) == "one\nfour\n"


@pytest.mark.parametrize(
    "edits",
    [[edit(0, 1, "x")], [edit(4, 5, "x")], [edit(3, 2, "x")], [edit(1, 2, "a"), edit(2, 3, "b")]],
)
def test_bad_edits_are_refused(edits: list[dict[str, object]]) -> None:
    with pytest.raises(EditError):
        apply(TEXT, edits)


def test_protected_paths() -> None:
    assert protected(".github/workflows/ci.yml")
    assert protected("../etc/passwd")
    assert not protected("src/app.py")


def test_by_path_groups() -> None:
    grouped = by_path([edit(1, 1, "a", "x"), edit(2, 2, "b", "y"), edit(3, 3, "c", "x")])
    assert {k: len(v) for k, v in grouped.items()} == {"x": 2, "y": 1}
