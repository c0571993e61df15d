"""Lines counted as git counts them, whatever other breaks Unicode knows (issue 16, item 10)."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from app.analysis.diff import added_lines, commentable_lines
from app.analysis.edits import apply
from app.analysis.lines import git_lines, git_lines_keepends
from tests.fakes.github_repos import unified_patch

# What str.splitlines() breaks at besides "\n"; git does not.
OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
LINE = st.text(alphabet=st.sampled_from("ab " + OTHER_BREAKS) | st.characters(), max_size=6).map(
    lambda text: text.replace("\n", "")
)
LINES = st.lists(LINE, max_size=8)


@given(lines=LINES, final_newline=st.booleans())
def test_split_at_newline_only(lines: list[str], final_newline: bool) -> None:
    # An empty last line without a final newline is the previous line's newline: no line.
    assume(final_newline or not lines or lines[-1] != "")
    text = "".join(f"{line}\n" for line in lines) if final_newline else "\n".join(lines)
    assert git_lines(text) == lines
    assert "".join(git_lines_keepends(text)) == text
    assert len(git_lines_keepends(text)) == len(git_lines(text))


@given(old=LINES, new=LINES)
def test_a_patch_numbers_lines_as_the_file_has_them(old: list[str], new: list[str]) -> None:
    before, after = "".join(f"{line}\n" for line in old), "".join(f"{line}\n" for line in new)
    patch = unified_patch(before, after)
    file_lines = git_lines(after)
    for number, text in added_lines(patch):
        assert file_lines[number - 1] == text
    assert commentable_lines(patch) <= set(range(1, len(file_lines) + 1))


@given(lines=st.lists(LINE, min_size=1, max_size=8), data=st.data())
def test_an_edit_replaces_the_line_git_numbers(lines: list[str], data: st.DataObject) -> None:
    text = "".join(f"{line}\n" for line in lines)
    number = data.draw(st.integers(1, len(lines)))
    edited = apply(text, [{"start_line": number, "end_line": number, "replacement": "X"}])
    assert git_lines(edited) == [*lines[: number - 1], "X", *lines[number:]]


def test_a_form_feed_does_not_shift_the_lines_after_it() -> None:
    patch = "@@ -1,2 +1,3 @@\n a\x0cb\n+c\u2028d\n e\r\n"
    assert added_lines(patch) == [(2, "c\u2028d")]
    assert commentable_lines(patch) == {1, 2, 3}
