"""Branch and path patterns as GitHub Actions' `branches:` and `paths:` filters read them:
`*` matches any characters but `/`, `**` any characters, `?` one character but `/`; everything
else is itself (docs.github.com, "Filter pattern cheat sheet", without its `+`, `!` and
character classes)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def matches(value: str, pattern: str) -> bool:
    return compiled(pattern).fullmatch(value) is not None


def any_match(value: str, patterns: Iterable[str]) -> bool:
    return any(matches(value, p) for p in patterns)
