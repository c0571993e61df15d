"""Which Linear issues a pull request names, and whether it closes them.

Sans-I/O: a branch name, title and body go in, `Mention`s come out; which of them are issues
Linear knows is for the caller to decide.

An identifier is a team key (a letter, then letters or digits) and a number: ENG-123, matched
case-insensitively, so a branch `ada/eng-123-fix-login` names ENG-123, and so does a Linear
issue URL. In the body, a closing word right before an identifier (or a list of them: `Fixes
ENG-1, ENG-2 and ENG-3`) makes it `closes`: close, fix, resolve, complete and implement, in any
tense. Anything else is `references`: ref, refs, references, part of, towards, relates to, or
just the identifier. The branch name and title only ever reference; an issue the body closes is
closed wherever else it appears. HTML comments are left out: PR templates keep their examples
there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTIFIER = r"[A-Za-z][A-Za-z0-9]{0,9}-[1-9][0-9]{0,8}"
# A PR naming more is a changelog or a release, not work on each of them.
MAX_MENTIONS = 50

BARE = re.compile(rf"(?<![A-Za-z0-9])(?P<id>{IDENTIFIER})(?![A-Za-z0-9])")
CLOSING_WORD = re.compile(
    r"\b(?:close[sd]?|closing|fix(?:e[sd])?|fixing|resolve[sd]?|resolving"
    r"|complete[sd]?|completing|implement(?:s|ed)?|implementing)\b[ \t]*:?[ \t]*",
    re.IGNORECASE,
)
# An identifier where the text stands, alone or as a Linear issue URL (with its slug).
REF = re.compile(
    rf"(?:https?://linear\.app/[\w.-]+/issue/)?(?P<id>{IDENTIFIER})(?![A-Za-z0-9])(?:/[^\s)\]]*)?",
    re.IGNORECASE,
)
SEPARATOR = re.compile(r"[ \t]*(?:,[ \t]*(?:and[ \t]+)?|&[ \t]*|and[ \t]+)", re.IGNORECASE)
HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)

SOURCES = ("branch", "title", "body")


@dataclass(frozen=True)
class Mention:
    identifier: str  # upper-cased: ENG-123
    kind: str  # 'closes' | 'references'
    source: str  # 'branch' | 'title' | 'body'

    @property
    def team_key(self) -> str:
        return self.identifier.rsplit("-", 1)[0]


def identifiers(text: str) -> list[str]:
    """Every identifier in `text`, upper-cased, in order of first appearance."""
    return list(dict.fromkeys(match["id"].upper() for match in BARE.finditer(text)))


def closed(body: str) -> list[str]:
    """The identifiers a closing word applies to, upper-cased, in order."""
    found: dict[str, None] = {}
    for word in CLOSING_WORD.finditer(body):
        ref = REF.match(body, word.end())
        while ref is not None:
            found[ref["id"].upper()] = None
            separator = SEPARATOR.match(body, ref.end())
            ref = None if separator is None else REF.match(body, separator.end())
    return list(found)


def mentions(*, branch: str | None, title: str | None, body: str | None) -> list[Mention]:
    """One Mention per identifier named anywhere, strongest kind, first source."""
    body = HTML_COMMENT.sub(" ", body or "")
    texts = {"branch": branch or "", "title": title or "", "body": body}
    closing = closed(body)
    closes = set(closing)
    found: dict[str, Mention] = {}
    for source in SOURCES:
        for identifier in identifiers(texts[source]):
            if identifier in found:
                continue
            if identifier in closes:
                found[identifier] = Mention(identifier, "closes", "body")
            else:
                found[identifier] = Mention(identifier, "references", source)
    # Closing words may name an issue the bare scan missed (a URL with a different boundary).
    for identifier in closing:
        found.setdefault(identifier, Mention(identifier, "closes", "body"))
    return list(found.values())[:MAX_MENTIONS]
