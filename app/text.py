"""Text from remote answers made fit for PostgreSQL: what every client does to what it is told.

PostgreSQL's text and jsonb cannot hold U+0000 (asyncpg: "invalid byte sequence for encoding
UTF8: 0x00"; jsonb: "unsupported Unicode escape sequence"), and asyncpg cannot encode a str
holding a lone UTF-16 surrogate ("surrogates not allowed"). GitHub's answers carry U+0000 in
titles, bodies and commit messages as webhooks do; JSON may also write a lone surrogate
(`\\ud800`), which Python's json keeps; a CI log may hold NUL bytes or bytes that are not UTF-8.
So what a remote service answers is made storable once, where it enters (app/clients/): GitHub's
JSON and job logs, Linear's JSON, the model's answers, and the error messages made from any of
them. Webhook payloads get the same treatment of U+0000 in deliveries.payload_of (ingest refuses
their lone surrogates).

What a user sees of such text afterwards:
- U+0000 is removed, as from payloads;
- a lone surrogate becomes U+FFFD (the replacement character), as a decoder shows bytes it
  cannot read; a surrogate pair split in two code points (YAML's `"\\ud83d\\ude00"`) becomes the
  character it stands for;
- bytes of a log that are not UTF-8 become U+FFFD too (httpx decodes a text answer so).
Nothing else changes: text without them is returned as it is, the same object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# What PostgreSQL cannot take in a str: U+0000 and any surrogate code point.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The escapes of a JSON document, taken from the left as JSON reads them: an escaped backslash
# (so that `\\u0000` stays text, not an escape), a surrogate pair (kept: it is one character),
# U+0000, a lone surrogate. Other escapes (`\"`, `\n` ...) hold no backslash after their first
# byte, so a match never starts inside one.
_ESCAPE = re.compile(
    rb"\\\\"
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u0000"
    rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
# Whether a document may hold one of them at all (a pair or `\\u0000` text also match: they
# only cost the rewrite, which leaves them as they are).
_MAYBE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_REPLACEMENT_ESCAPE = b"\\ufffd"


def storable(text: str) -> str:
    """`text` as a text or jsonb column can hold it: U+0000 removed, each lone surrogate
    replaced by U+FFFD, a pair of surrogates joined into its character. The same str when
    there is nothing to change (one scan, at C speed)."""
    if _UNSTORABLE.search(text) is None:
        return text
    # UTF-16 holds any code point a str can, surrogates as themselves; read back, a pair is its
    # character and a lone one is what "replace" makes of it: U+FFFD. Before U+0000 goes, so
    # that two halves it stood between are not taken for a pair.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", "")


def storable_json(value: Any) -> Any:
    """A decoded JSON value (dicts, lists, str, numbers) with `storable` applied to every string
    and key (see `each_string`)."""
    return each_string(value, storable)


def each_string(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (a decoded JSON or YAML value) with `change` applied to every string and every
    str key. Dicts and lists are changed in place and returned (the caller's own, just
    decoded); of two keys that become one, the later wins, as a JSON decoder does. Walked with
    a list of its own rather than recursion: however deep they nest, no stack runs out."""
    if isinstance(value, str):
        return change(value)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if any(isinstance(key, str) and change(key) != key for key in node):
                # Rebuilt, to keep the keys' order.
                items = [
                    (change(key) if isinstance(key, str) else key, item)
                    for key, item in node.items()
                ]
                node.clear()
                node.update(items)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = change(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = change(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
    return value


def _escape(match: re.Match[bytes]) -> bytes:
    found = match[0]
    if found == b"\\u0000":
        return b""
    # 2 bytes: an escaped backslash; 12: a pair; the other 6: a lone surrogate.
    return _REPLACEMENT_ESCAPE if len(found) == 6 else found


def storable_document(document: bytes) -> bytes:
    """A JSON document (bytes, UTF-8 or any ASCII-compatible encoding) whose strings decode as
    `storable` makes them: the escapes of U+0000 dropped, those of lone surrogates written as
    U+FFFD's, nothing else touched (numbers keep their digits, an invalid document stays as
    invalid for its decoder to say so). The same bytes object when no such escape is there:
    most answers, told by a search for a backslash and `u` (C speed, ~1 us for 25 KB).

    In JSON, U+0000 and a surrogate can only be written as escapes (a raw one is not UTF-8 or
    is a control character the decoder refuses), so rewriting the escapes is enough."""
    if b"\\u" not in document or _MAYBE.search(document) is None:
        return document
    return _ESCAPE.sub(_escape, document)
