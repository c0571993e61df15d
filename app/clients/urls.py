"""Every part hookwise puts into a GitHub URL goes through `part`: names from the outside world
(branches, file paths, check names) carry `#`, `&`, `?`, `%`, spaces and braces, and each of those
cuts or bends a URL written with an f-string.

    repo_url("octo-org/widgets") + "/contents/" + part("src/C#/P.cs", slashes=True)
    -> "/repos/octo-org/widgets/contents/src/C%23/P.cs"

Sans-I/O: strings in, strings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote


def part(value: str | int, *, slashes: bool = False) -> str:
    """`value` percent-encoded (UTF-8) for a URL: every character but RFC 3986's unreserved ones
    (letters, digits, `-._~`), and `/` too unless `slashes` (a file path or a branch name, whose
    `/` GitHub reads as a separator: `git/refs/heads/fix/%2312`, `contents/src/C%23/P.cs`).

    Braces are encoded as well, so gidgethub's URI-template expansion of the URL leaves the result
    as it is (`{{cookiecutter.x}}` would otherwise be read as a template expression).
    A segment that is `.` or `..` has its dots encoded too (`%2E`): as they are, a URL parser
    removes them as dot-segments (RFC 3986, 5.2.4), so a label named `..` would name its parent.
    Raises UnicodeEncodeError for a lone surrogate, which no GitHub name can hold."""
    encoded = quote(str(value), safe="/" if slashes else "", encoding="utf-8", errors="strict")
    return "/".join(_DOTS.get(segment, segment) for segment in encoded.split("/"))


# quote() leaves `.` as it is: unreserved, but a whole segment of dots means "here" or "up".
_DOTS = {".": "%2E", "..": "%2E%2E"}


def query(params: Mapping[str, str | int]) -> str:
    """`?name=value&...` with each name and value through `part`; "" when there are none."""
    if not params:
        return ""
    return "?" + "&".join(f"{part(name)}={part(value)}" for name, value in params.items())


def repo_url(full_name: str) -> str:
    """`/repos/{owner}/{repo}` for a repository's `owner/name`."""
    owner, _, name = full_name.partition("/")
    return f"/repos/{part(owner)}/{part(name)}"
