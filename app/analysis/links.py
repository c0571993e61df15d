"""Which Linear issues a pull request names, and whether it closes them — as Linear's own GitHub
integration decides (https://linear.app/docs/github, "Link through pull requests").

Sans-I/O: a branch name, title and body go in, `Mention`s come out; which of them are issues
Linear knows is for the caller to decide.

An identifier is a team key (a letter, then letters or digits) and a number: ENG-123, matched
case-insensitively, so a branch `ada/eng-123-fix-login` names ENG-123, and so does a Linear
issue URL. The rules, in order:

1. `skip ENG-123` or `ignore ENG-123` in the title or body: not linked at all, even when the
   branch names it.
2. A closing word before an identifier (or a list: `Fixes ENG-1, ENG-2 and ENG-3`) in the title
   or body: `closes`. Close, fix, resolve, complete and implement, in any tense.
3. A contributing word before it in the title or body: `references` (linked, never completed).
   Ref, refs, references, part of, related to, relates to, contributes to, toward(s).
4. An identifier in the branch name or the title with no word: `closes`, as Linear's integration
   completes such an issue on merge by default.
5. A bare identifier in the body, with no word: nothing ("Follow-up to ENG-12" links nothing).

HTML comments in the body are left out: PR templates keep their examples there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTIFIER = r"[A-Za-z][A-Za-z0-9]{0,9}-[1-9][0-9]{0,8}"
# A PR naming more is a changelog or a release, not work on each of them.
MAX_MENTIONS = 50
# GitHub keeps at most 65,536 characters of a pull request's body (it answers 422 "Body is too
# long" past it), and less of a title or branch name: only that much of each is read. A
# payload's body may be far longer (a 25 MB one was read for 20 s, the event loop and so
# `hookwise serve`'s ingest stopped meanwhile).
MAX_TEXT = 65_536

BARE = re.compile(rf"(?<![A-Za-z0-9])(?P<id>{IDENTIFIER})(?![A-Za-z0-9])")
AFTER_WORD = r"\b[ \t]*:?[ \t]*"
CLOSING_WORD = re.compile(
    r"\b(?:close[sd]?|closing|fix(?:e[sd])?|fixing|resolve[sd]?|resolving"
    r"|complete[sd]?|completing|implement(?:s|ed)?|implementing)" + AFTER_WORD,
    re.IGNORECASE,
)
CONTRIBUTING_WORD = re.compile(
    r"\b(?:refs?|references|part[ \t]+of|relate[sd][ \t]+to|contributes[ \t]+to"
    r"|towards?)" + AFTER_WORD,
    re.IGNORECASE,
)
SKIP_WORD = re.compile(r"\b(?:skip|ignore)" + AFTER_WORD, re.IGNORECASE)
# An identifier where the text stands, alone or as a Linear issue URL (with its slug).
REF = re.compile(
    rf"(?:https?://linear\.app/[\w.-]+/issue/)?(?P<id>{IDENTIFIER})(?![A-Za-z0-9])(?:/[^\s)\]]*)?",
    re.IGNORECASE,
)
SEPARATOR = re.compile(r"[ \t]*(?:,[ \t]*(?:and[ \t]+)?|&[ \t]*|and[ \t]+)", re.IGNORECASE)
HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)

SOURCES = ("branch", "title", "body")
# Where a bare identifier links (rule 4); the body needs a word (rule 5).
BARE_SOURCES = ("branch", "title")
WORDED_SOURCES = ("title", "body")


@dataclass(frozen=True)
class Mention:
    identifier: str  # upper-cased: ENG-123
    kind: str  # 'closes' | 'references'
    source: str  # 'branch' | 'title' | 'body': where the deciding mention stands

    @property
    def team_key(self) -> str:
        return self.identifier.rsplit("-", 1)[0]


def identifiers(text: str) -> list[str]:
    """Every identifier in `text`, upper-cased, in order of first appearance."""
    return list(dict.fromkeys(match["id"].upper() for match in BARE.finditer(text)))


def after(word: re.Pattern[str], text: str) -> list[str]:
    """The identifiers `word` applies to (each right after it, or in a list after it),
    upper-cased, in order."""
    found: dict[str, None] = {}
    for match in word.finditer(text):
        ref = REF.match(text, match.end())
        while ref is not None:
            found[ref["id"].upper()] = None
            separator = SEPARATOR.match(text, ref.end())
            ref = None if separator is None else REF.match(text, separator.end())
    return list(found)


def closed(text: str) -> list[str]:
    """The identifiers a closing word applies to, upper-cased, in order."""
    return after(CLOSING_WORD, text)


def mentions(*, branch: str | None, title: str | None, body: str | None) -> list[Mention]:
    """One Mention per identifier the PR links, by the rules above, in order of appearance."""
    texts = {
        "branch": (branch or "")[:MAX_TEXT],
        "title": (title or "")[:MAX_TEXT],
        "body": HTML_COMMENT.sub(" ", (body or "")[:MAX_TEXT]),
    }
    skipped = {i for source in WORDED_SOURCES for i in after(SKIP_WORD, texts[source])}
    decided: dict[str, Mention] = {}
    # Strongest first: a closing word, then a contributing word, then a bare branch/title id.
    for word, kind in ((CLOSING_WORD, "closes"), (CONTRIBUTING_WORD, "references")):
        for source in WORDED_SOURCES:
            for identifier in after(word, texts[source]):
                decided.setdefault(identifier, Mention(identifier, kind, source))
    for source in BARE_SOURCES:
        for identifier in identifiers(texts[source]):
            decided.setdefault(identifier, Mention(identifier, "closes", source))
    order = [i for source in SOURCES for i in identifiers(texts[source])]
    order += list(decided)  # a URL whose boundary the bare scan missed
    linked = [decided[i] for i in dict.fromkeys(order) if i in decided and i not in skipped]
    return linked[:MAX_MENTIONS]
