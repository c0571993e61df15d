"""app/text.py: remote text made storable, as pure functions."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.text import storable, storable_document, storable_json

# Any str Python can hold, surrogates and U+0000 included, with more of those than chance gives.
SPECIAL = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00", "\\", '"', "u0"]
ANY_TEXT = st.lists(
    st.sampled_from(SPECIAL) | st.characters(exclude_categories=()), max_size=12
).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=20,
)


def test_what_a_user_sees_of_each_kind_of_text() -> None:
    assert storable("Fix\x00 it\x00") == "Fix it"
    assert storable("a\ud800b") == "a\ufffdb"
    assert storable("\udc00\ud83d") == "\ufffd\ufffd"
    # Halves with U+0000 between them are no pair, once it is gone either.
    assert storable("\ud800\x00\udc00") == "\ufffd\ufffd"
    # A pair split in two code points (as YAML's escapes give it) is the one character.
    assert storable("x\ud83d\ude00y") == "x\U0001f600y"
    assert storable("naïve 😀") == "naïve 😀"


@given(text=ANY_TEXT)
def test_any_text_becomes_utf8_without_u0000_and_stays_so(text: str) -> None:
    made = storable(text)
    made.encode("utf-8")  # what asyncpg does with it: raises for a surrogate
    assert "\x00" not in made
    assert storable(made) == made
    # Nothing but what PostgreSQL cannot take is changed.
    if not any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text):
        assert made is text
    else:
        assert made != text


@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_a_documents_strings_read_as_storable_makes_them(value: Any, ascii_only: bool) -> None:
    try:
        document = json.dumps(value, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a raw surrogate is no UTF-8: JSON can only escape it
        document = json.dumps(value).encode()
    cleaned = storable_document(document)
    assert json.loads(cleaned) == storable_json(json.loads(document))
    json.dumps(json.loads(cleaned), ensure_ascii=False).encode("utf-8")
    if cleaned != document:
        assert b"\\u" in document


def test_a_document_keeps_everything_but_those_escapes() -> None:
    document = rb'{"a\u0000": "x\\u0000\u0000y", "n": 1.10, "p": "\ud83d\ude00", "l": "\uD800z"}'
    assert storable_document(document) == (
        rb'{"a": "x\\u0000y", "n": 1.10, "p": "\ud83d\ude00", "l": "\ufffdz"}'
    )
    plain = b'{"title": "caf\\u00e9", "body": "no escape of ours"}'
    assert storable_document(plain) is plain


def test_keys_that_become_one_keep_the_later_value_as_a_decoder_does() -> None:
    value = {"a\x00": 1, "b": 2, "a": 3, "\ud800": [{"\x00": "\x00"}]}
    assert storable_json(value) == {"a": 3, "b": 2, "\ufffd": [{"": ""}]}
    assert list(storable_json({"k": 1, "k\x00": 2})) == ["k"]


def test_a_walk_of_any_depth_needs_no_stack() -> None:
    deep: Any = "\x00"
    for _ in range(100_000):
        deep = [deep]
    node = storable_json(deep)
    for _ in range(100_000):
        node = node[0]
    assert node == ""
