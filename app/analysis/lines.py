"""Lines as git counts them: a file or patch split at "\\n" only.

str.splitlines() also splits at \\r, \\x0b, \\x0c, \\x1c-\\x1e, \\x85, U+2028 and U+2029, which git
treats as ordinary characters; one of them in a changed line would shift every later line
number (comments on the wrong line or a 422, edits of the wrong lines). Everything that numbers
the lines of a patch or a file splits here.
"""

from __future__ import annotations


def git_lines(text: str) -> list[str]:
    """The lines of `text`, without their "\\n"; a final "\\n" ends the last line, as in
    str.splitlines(). A "\\r" before a "\\n" stays in the line, as git shows it."""
    parts = text.split("\n")
    return parts[:-1] if parts[-1] == "" else parts


def git_lines_keepends(text: str) -> list[str]:
    """The lines of `text`, each keeping its "\\n" (the last may have none): joined, the text."""
    parts = text.split("\n")
    return [f"{part}\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
