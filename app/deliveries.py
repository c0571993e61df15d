"""Sans-I/O core: check a webhook's signature and turn its headers and raw body into a Delivery.

Pure functions of headers, body, secrets and the time; nothing here does I/O. Header mappings
are looked up by lower-case name (Starlette's Headers is case-insensitive, a plain dict must use
lower-case keys).

    WebhookError            anything that makes us refuse a delivery; carries the HTTP status
     ├── MissingHeader      400: a required header is absent or empty
     ├── BadSignature       401: missing, malformed or wrong signature
     ├── StaleDelivery      401: Linear timestamp outside the allowed window
     ├── InvalidPayload     400: the (authentic) body is not a JSON object we can read, or
     │                      nests more than MAX_DEPTH levels deep
     ├── IncompleteBody     400: raised by the HTTP layer when the client hangs up mid-body
     ├── BodyTimeout        408: raised by the HTTP layer when the body takes too long
     ├── BodyTooLarge       413: from Content-Length, or raised by the HTTP layer while streaming
     └── Busy               503: the process's budget for bodies in memory stayed full

Each has a `kind`, a fixed word for metrics and logs (never anything the client sent).
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs

import msgspec

from app import serial
from app.text import each_string

MAX_ID_LENGTH = 200
# The stored delivery id of a late Linear retry: its body's digest (see parse_linear).
RETRY_KEY_PREFIX = "sha256:"
# A repository or organization webhook may be set to send `application/x-www-form-urlencoded`:
# the JSON document is then the urlencoded value of one field, `payload`.
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_FIELD = b"payload="
# UTF-8 is checked a slice at a time, so a 25 MB body is never copied whole into a str.
UTF8_SLICE = 1 << 20
# How deep a body may nest objects and arrays (a top-level object is one level). GitHub's
# example payloads go 7 deep. Whatever reads a payload after ingest recurses a level at a time
# somewhere (msgspec's and json's decoders and encoders, str() of a field, the admin's indented
# view, up to two frames a level in Python), within Python's 1,000 frames for the whole stack.
# Bounded only by that, ingest took bodies ~990 deep that the worker, on a stack of its own,
# could not read (from ~500 deep with U+0000 in them). A fixed bound far below it makes what
# ingest takes readable wherever it is read.
MAX_DEPTH = 256
TOO_DEEP = f"body is nested more than {MAX_DEPTH} levels deep"


class WebhookError(Exception):
    """The delivery was refused."""

    status_code = 400
    kind = "payload"
    # Extra response headers, e.g. Retry-After.
    headers: ClassVar[Mapping[str, str]] = {}
    # Set once the whole body was read: until then the refusal also closes the connection.
    body_read = False

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or (self.__doc__ or "").strip()
        super().__init__(self.reason)


class MissingHeader(WebhookError):
    """A required header is missing."""

    kind = "headers"


class BadSignature(WebhookError):
    """The signature is missing or does not match."""

    status_code = 401
    kind = "signature"


class StaleDelivery(WebhookError):
    """The delivery's timestamp is outside the allowed window."""

    status_code = 401
    kind = "stale"


class InvalidPayload(WebhookError):
    """The body is not a JSON object."""


class IncompleteBody(WebhookError):
    """The client went away before sending the whole body."""

    kind = "incomplete"


class BodyTimeout(WebhookError):
    """The body did not arrive in time."""

    status_code = 408
    kind = "body_timeout"


class BodyTooLarge(WebhookError):
    """The body is larger than the configured limit."""

    status_code = 413
    kind = "too_large"


class Busy(WebhookError):
    """Too many request bodies are being read at once; try again later."""

    status_code = 503
    kind = "busy"
    # GitHub does not retry by itself: `hookwise redeliver` (or a person) does. The header tells
    # any other sender when.
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "5"}


@dataclass(frozen=True)
class Delivery:
    """One authentic webhook delivery, ready to store."""

    source: str
    hook_id: str
    delivery_id: str
    event_type: str
    action: str | None
    headers: dict[str, str]
    body: bytes = field(repr=False)
    # GitHub's installation the delivery is for, when it names one: for logs.
    installation_id: int | None = None
    # Events sharing a key run one at a time, in arrival order (app/serial.py).
    serial_keys: list[str] = field(default_factory=list)


def github_signature(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for this body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def linear_signature(secret: bytes, body: bytes) -> str:
    """The Linear-Signature value Linear sends for this body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _matches_any(given: str, expected: Iterable[str]) -> bool:
    # Check every secret even after a match, so timing does not tell which secret is current.
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(given.encode(), candidate.encode())
    return matched


HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def _github_signature_header(headers: Mapping[str, str]) -> str:
    header = headers.get("x-hub-signature-256", "")
    if not header:
        reason = "X-Hub-Signature-256 is required"
        if headers.get("x-hub-signature"):
            reason += " (sha1 signatures are not accepted)"
        raise BadSignature(reason)
    if not header.startswith("sha256="):
        raise BadSignature("X-Hub-Signature-256 must start with sha256=")
    if not HEX_DIGEST.fullmatch(header.removeprefix("sha256=")):
        raise BadSignature("X-Hub-Signature-256 is not a SHA-256 hex digest")
    return header


def _linear_signature_header(headers: Mapping[str, str]) -> str:
    header = headers.get("linear-signature", "").lower()
    if not header:
        raise BadSignature("Linear-Signature is required")
    if not HEX_DIGEST.fullmatch(header):
        raise BadSignature("Linear-Signature is not a SHA-256 hex digest")
    return header


def check_github_headers(headers: Mapping[str, str]) -> None:
    """Refuse a GitHub delivery from its headers alone, before a byte of its body is read.

    Raises MissingHeader (X-GitHub-Event, X-GitHub-Delivery) or BadSignature (absent or not
    `sha256=` and 64 hex digits, the form GitHub documents for X-Hub-Signature-256).
    """
    _required(headers, "X-GitHub-Event")
    _required(headers, "X-GitHub-Delivery")
    _github_signature_header(headers)


def check_linear_headers(headers: Mapping[str, str]) -> None:
    """Refuse a Linear delivery from its headers alone: MissingHeader (Linear-Delivery,
    Linear-Event) or BadSignature (Linear-Signature absent or not 64 hex digits)."""
    _required(headers, "Linear-Delivery")
    _required(headers, "Linear-Event")
    _linear_signature_header(headers)


def verify_github(headers: Mapping[str, str], body: bytes, secrets: Iterable[bytes]) -> None:
    header = _github_signature_header(headers)
    if not _matches_any(header, (github_signature(s, body) for s in secrets)):
        raise BadSignature("signature does not match")


def verify_linear(headers: Mapping[str, str], body: bytes, secrets: Iterable[bytes]) -> None:
    header = _linear_signature_header(headers)
    if not _matches_any(header, (linear_signature(s, body) for s in secrets)):
        raise BadSignature("signature does not match")


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise MissingHeader(f"{name} header is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise MissingHeader(f"{name} header is malformed")
    return value


class GitHubFields(msgspec.Struct):
    """What a GitHub delivery's row needs from its body. `Any`: a field of an unexpected type is
    the handlers' business, not a reason to refuse an authentic delivery."""

    action: Any = None
    installation: Any = None


# What its serial keys need (app/serial.py), decoded without building the rest of the objects.
class _Id(msgspec.Struct):
    id: Any = None


class _Head(msgspec.Struct):
    sha: Any = None


class _Pull(msgspec.Struct):
    number: Any = None
    head: _Head | None = None


class _Linked(msgspec.Struct):
    number: Any = None


class _Run(msgspec.Struct):
    head_sha: Any = None
    pull_requests: list[_Linked] | None = None


class GitHubKeyed(GitHubFields):
    """GitHubFields and what the serial keys need; a body whose objects are not the shapes
    GitHub sends is read as GitHubFields alone (no keys: the handlers will say what is wrong)."""

    repository: _Id | None = None
    pull_request: _Pull | None = None
    check_run: _Run | None = None


def github_serial_keys(event_type: str, fields: GitHubFields) -> list[str]:
    if not isinstance(fields, GitHubKeyed):
        return []
    pull, run = fields.pull_request, fields.check_run
    return serial.keys(
        "github",
        event_type,
        repository=fields.repository.id if fields.repository else None,
        pull_number=pull.number if pull else None,
        pull_head_sha=pull.head.sha if pull and pull.head else None,
        run_head_sha=run.head_sha if run else None,
        run_pull_numbers=[linked.number for linked in (run.pull_requests or ())] if run else (),
        installation=_installation_id(fields.installation),
    )


class LinearFields(msgspec.Struct, rename="camel"):
    action: Any = None
    type: Any = None
    webhook_timestamp: Any = None
    webhook_id: Any = None
    # What its serial key needs (app/serial.py): the id of the issue it is about. Linear's
    # payloads are small, so the object is read whole.
    data: Any = None


Fields = TypeVar("Fields", GitHubFields, GitHubKeyed, LinearFields)
GITHUB_FIELDS = msgspec.json.Decoder(GitHubFields)
GITHUB_KEYED = msgspec.json.Decoder(GitHubKeyed)
LINEAR_FIELDS = msgspec.json.Decoder(LinearFields)


def is_utf8(body: bytes) -> bool:
    if body.isascii():  # most payloads: a fast scan, no decoding
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for start in range(0, len(body), UTF8_SLICE):
            decoder.decode(view[start : start + UTF8_SLICE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_fields(body: bytes, decoder: msgspec.json.Decoder[Fields]) -> Fields:
    """A few top-level fields of a body that must be a JSON object, or InvalidPayload.

    The whole document's syntax is checked (strictly: no NaN, no lone surrogates, nothing
    after it), but only these fields become Python objects: a third of the time it takes to
    build all of a 25 KB pull_request. msgspec does not check UTF-8 inside the strings it skips,
    hence is_utf8.
    """
    try:
        fields = decoder.decode(body)
    except msgspec.ValidationError:
        raise InvalidPayload("body must be a JSON object") from None
    except msgspec.DecodeError:
        raise InvalidPayload("body is not valid UTF-8 JSON") from None
    except RecursionError:
        # msgspec recurses per level, even through what it skips, as deep as the stack lets
        # it: always past MAX_DEPTH, so the same refusal as check_depth's.
        raise InvalidPayload(TOO_DEEP) from None
    if not is_utf8(body):
        raise InvalidPayload("body is not valid UTF-8 JSON")
    return fields


# What nested_deeper_than reads of a document: opening brackets (no more than the limit, no
# deeper), then all brackets and the quotes that tell strings apart.
_NOT_OPENING = bytes(b for b in range(256) if b not in b"{[")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')
# The escapes that hide a quote's meaning: an escaped backslash or quote. Taken from the left,
# as JSON reads them, a run of backslashes pairs up as it should; the other escapes (\n,
# \uXXXX ...) hold no quote, and their backslash goes with the rest of the text.
_ESCAPE = re.compile(rb'\\[\\"]')
# A string once only its quotes and brackets are left (no escapes, no quote inside).
_BRACKETS_STRING = re.compile(rb'"[^"]*"')
# Each bracket's change to the depth, by byte.
_STEP = [1 if b in b"{[" else -1 if b in b"}]" else 0 for b in range(256)]


def nested_deeper_than(document: bytes, limit: int) -> bool:
    """Whether a JSON document nests objects and arrays more than `limit` levels deep (a
    top-level object is one level); brackets inside strings do not count. For bytes that are
    not JSON the answer means nothing: their decoding says what is wrong with them.

    No recursion and no objects built, at C speed: one pass for a document with no more
    opening brackets than `limit` (every real payload: a 28 KB pull_request has ~180), a few
    more otherwise."""
    if len(document.translate(None, _NOT_OPENING)) <= limit:
        return False
    # Escapes out first, so that each quote left begins or ends a string. Most documents have
    # no backslash at all, which memchr tells at once.
    text = _ESCAPE.sub(b"", document) if b"\\" in document else document
    structure = text.translate(None, _NOT_STRUCTURE)
    # Two quotes side by side hold no bracket between them, inside a string or out of one:
    # dropping them changes no depth, and leaves few strings for the pattern to take out.
    brackets = _BRACKETS_STRING.sub(b"", structure.replace(b'""', b""))
    depths = accumulate(map(_STEP.__getitem__, brackets))
    # The first depth past the limit ends the walk (a body of brackets alone, say).
    return next(filter(limit.__lt__, depths), None) is not None


def check_depth(document: bytes) -> None:
    """Raise InvalidPayload when a JSON document nests more than MAX_DEPTH levels deep."""
    if nested_deeper_than(document, MAX_DEPTH):
        raise InvalidPayload(TOO_DEEP)


def _text(value: str) -> str:
    """A payload's string fit for a text column, which cannot hold U+0000."""
    return value.replace("\x00", "")


def _optional_str(value: Any) -> str | None:
    return (_text(value) or None) if isinstance(value, str) else None


def _installation_id(installation: Any) -> int | None:
    value = installation.get("id") if isinstance(installation, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kept_headers(headers: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Headers worth keeping with the event; signatures never are."""
    return {
        name: value
        for name, value in headers.items()
        if (name.startswith(prefix) and "signature" not in name)
        or name in ("user-agent", "content-type")
    }


def json_document(body: bytes) -> bytes:
    """The JSON document a stored body carries: the body itself, or the decoded `payload` field
    of a form-encoded one (which never starts with `{`, as a JSON object does).

    Raises InvalidPayload when a form has no single `payload` field or is not UTF-8.
    """
    if not body.startswith(FORM_FIELD):
        return body
    try:
        form = parse_qs(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("form body is not valid urlencoded UTF-8") from None
    values = form.get("payload", [])
    if len(values) != 1:
        raise InvalidPayload("form body must have exactly one payload field")
    return values[0].encode()


def without_nul(value: Any) -> Any:
    """A decoded payload with U+0000 removed from every string and key: text columns cannot
    hold it, and handlers then see one text everywhere. The stored body keeps it. Its lists
    and dicts are changed in place (the decoder's own, shared with no one), walked without
    recursion (app/text.each_string)."""
    return each_string(value, _text)


def payload_of(body: bytes) -> Any:
    """What handlers see of a stored body: its JSON document decoded, without U+0000.

    Raises InvalidPayload for a body that is not a JSON document, or one nested too deep for
    the decoder's stack (ingest refuses what nests past MAX_DEPTH, but a release before it
    stored such bodies): read again, it fails again. Its depth is not checked again here: what
    ingest took is within MAX_DEPTH, and the check costs ~16 us a 25 KB body, as much again as
    ingest spent on it; the one walk of ours (without_nul) keeps no stack. msgspec, not json:
    it decodes a 25 KB pull_request in under half the time.
    """
    document = json_document(body)
    try:
        payload = msgspec.json.decode(document)
    except msgspec.DecodeError as exc:
        raise InvalidPayload(f"body is not a JSON document: {exc}") from None
    except RecursionError:
        raise InvalidPayload(TOO_DEEP) from None
    # U+0000 can only be written \u0000 in JSON: most payloads skip the walk. Looking for the
    # backslash first (memchr, ~0.5 us for 22 KB) spares a payload with no escape at all the
    # search for the six bytes (~11 us).
    nul = b"\\" in document and b"\\u0000" in document
    return without_nul(payload) if nul else payload


def parse_github(
    headers: Mapping[str, str], body: bytes, *, secrets: Iterable[bytes], now: float
) -> Delivery:
    """Verify and parse a GitHub delivery. `now` is unused: GitHub signs no timestamp.

    The signature is over the raw body, and the raw body is what is stored; a form-encoded
    delivery (Content-Type application/x-www-form-urlencoded) is read from its `payload` field.
    """
    event = _required(headers, "X-GitHub-Event")
    delivery_id = _required(headers, "X-GitHub-Delivery")
    verify_github(headers, body, secrets)
    form = headers.get("content-type", "").split(";")[0].strip().lower() == FORM_TYPE
    if form != body.startswith(FORM_FIELD):
        reason = "form body must be payload=<urlencoded JSON>" if form else None
        raise InvalidPayload(reason or "body is not valid UTF-8 JSON")
    document = json_document(body)
    try:
        fields: GitHubFields = read_fields(document, GITHUB_KEYED)
    except InvalidPayload:
        fields = read_fields(document, GITHUB_FIELDS)
    check_depth(document)
    return Delivery(
        source="github",
        hook_id=headers.get("x-github-hook-id", "").strip()[:MAX_ID_LENGTH],
        delivery_id=delivery_id,
        event_type=event,
        action=_optional_str(fields.action),
        headers=_kept_headers(headers, "x-github-"),
        body=body,
        installation_id=_installation_id(fields.installation),
        serial_keys=github_serial_keys(event, fields),
    )


def parse_linear(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Iterable[bytes],
    now: float,
    tolerance: float = 60.0,
    retry_window: float = 0.0,
) -> Delivery:
    """Verify and parse a Linear delivery; its signed webhookTimestamp (ms) must be near `now`.

    Linear's docs say to refuse a webhookTimestamp more than a minute from now (`tolerance`),
    and that a delivery not answered 200 is retried after 1 minute, 1 hour and 6 hours; they do
    not say whether a retry is signed with a fresh timestamp. So one older than `tolerance` but
    at most `retry_window` seconds old is taken as such a retry: its key becomes the SHA-256 of
    its signed body instead of the unsigned Linear-Delivery header, so however often that body
    is sent again (by Linear, or by someone who captured it) it is stored once. Raises
    StaleDelivery for anything else outside the window, and for a future timestamp.
    """
    delivery_id = _required(headers, "Linear-Delivery")
    _required(headers, "Linear-Event")
    verify_linear(headers, body, secrets)
    fields = read_fields(body, LINEAR_FIELDS)
    check_depth(body)
    timestamp = fields.webhook_timestamp
    if timestamp is None:
        raise StaleDelivery("webhookTimestamp is missing")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise StaleDelivery("webhookTimestamp is not a number of milliseconds")
    try:
        age = now - timestamp / 1000
    except OverflowError:  # an integer no float holds: as far from now as can be
        age = math.inf
    if age > tolerance and age <= retry_window:
        delivery_id = RETRY_KEY_PREFIX + hashlib.sha256(body).hexdigest()
    elif abs(age) > tolerance:
        raise StaleDelivery(f"webhookTimestamp is more than {tolerance:g}s from now")
    event_type = _optional_str(fields.type)
    if event_type is None:
        raise InvalidPayload("body has no type")
    hook_id = fields.webhook_id
    return Delivery(
        source="linear",
        hook_id=_text(str(hook_id))[:MAX_ID_LENGTH] if hook_id is not None else "",
        delivery_id=delivery_id,
        event_type=event_type,
        action=_optional_str(fields.action),
        headers=_kept_headers(headers, "linear-"),
        body=body,
        serial_keys=serial.keys(
            "linear",
            event_type,
            linear_issue=fields.data.get("id") if isinstance(fields.data, dict) else None,
        ),
    )
