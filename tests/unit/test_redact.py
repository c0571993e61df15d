"""Redaction is one pass of one pattern over each string: no secret survives it, whatever the
secrets share with each other or with the text around them."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from app import logs

# A small alphabet, so secrets overlap each other and the text often.
SECRETS = st.lists(st.text("ab-", min_size=logs.MIN_SECRET_LENGTH, max_size=9), max_size=4)
TEXT = st.lists(st.one_of(st.text("ab- x", max_size=8), st.sampled_from(["", "sha256="])))


@given(SECRETS, TEXT, st.data())
def test_no_secret_survives(secrets: list[str], filler: list[str], data: st.DataObject) -> None:
    pieces = list(filler)
    for secret in secrets:
        pieces.insert(data.draw(st.integers(0, len(pieces))), secret)
    scrubbed = logs.Redact(secrets).scrub("".join(pieces))
    assert not [secret for secret in secrets if secret in scrubbed]


def test_a_secret_containing_another_is_replaced_whole() -> None:
    redact = logs.Redact(["token", "token-with-suffix"])
    assert redact.scrub("a token-with-suffix, a token") == "a [redacted], a [redacted]"


def test_signatures_are_replaced_beside_secrets() -> None:
    signature = "sha256=" + "0f" * 32
    redact = logs.Redact(["hunter2-secret"])
    text = f"hunter2-secret {signature} X-Linear-Signature: {'ab' * 32}"
    assert redact.scrub(text) == ("[redacted] sha256=[redacted] X-Linear-Signature: [redacted]")


def test_an_empty_secret_redacts_nothing() -> None:
    assert logs.Redact([""]).scrub("plain text") == "plain text"


# Pieces that make a match or come close to one: secrets, both signatures' literal parts in
# any case, hex, and NUL (what the filter joins a line's texts with).
NEAR = st.lists(
    st.sampled_from(
        ["ab-ab-", "sha256=", "SHA256=", "Signature", "SIGNATURE: ", "signature=", "'", '"',
         "0f" * 32, "AB" * 32, " ", "\0", "x", "\u017fignature=", "s\u0131gnature: ",
         "S\u0130GNATURE="]
    ),
    max_size=12,
)  # fmt: skip


@given(NEAR)
def test_a_line_is_scrubbed_exactly_as_the_pattern_alone_would(pieces: list[str]) -> None:
    # The literal tests before the pattern only skip lines it would leave as they are.
    redact = logs.Redact(["ab-ab-"])
    text = "".join(pieces)
    assert redact.scrub(text) == redact._pattern.sub(redact._replace, text)


def test_a_secret_in_one_field_of_a_clean_line_is_redacted() -> None:
    redact = logs.Redact(["hunter2-secret"])
    record = logging.LogRecord("x", logging.INFO, "", 0, "clean %s", ("message",), None)
    record.note = "has hunter2-secret in it"
    record.other = "clean"
    redact.filter(record)
    assert (record.getMessage(), record.note, record.other) == (
        "clean message",
        "has [redacted] in it",
        "clean",
    )


def test_a_signature_named_with_a_unicode_case_twin_of_its_letters_is_redacted() -> None:
    # The pattern's IGNORECASE is Unicode's: long s matches s, dotless and dotted I match i.
    hexed = "ab" * 32
    redact = logs.Redact([])
    assert [
        redact.scrub(f"{name}={hexed}")
        for name in ("\u017fignature", "s\u0131gnature", "S\u0130GNATURE")
    ] == ["\u017fignature=[redacted]", "s\u0131gnature=[redacted]", "S\u0130GNATURE=[redacted]"]
