"""The sans-I/O core: signatures and parsing, as pure functions."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.deliveries import (
    MAX_DEPTH,
    TOO_DEEP,
    BadSignature,
    BodyTooLarge,
    InvalidPayload,
    MissingHeader,
    StaleDelivery,
    WebhookError,
    check_github_headers,
    check_linear_headers,
    nested_deeper_than,
    parse_github,
    parse_linear,
    payload_of,
    verify_github,
)
from app.http.body import declared_length
from tests.signing import depth_of, github_headers, linear_body, linear_headers, nested_body

BODY = b'{"action":"opened","number":1}'
SECRETS = (b"It's a Secret to Everybody",)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def github(body: bytes = BODY, secrets: tuple[bytes, ...] = SECRETS, **headers: str):
    sent = lower(github_headers(BODY, "pull_request", delivery="d-1")) | headers
    return parse_github(sent, body, secrets=secrets, now=time.time())


def test_github_known_vector() -> None:
    # The example in GitHub's "Validating webhook deliveries" documentation.
    headers = {
        "x-hub-signature-256": (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        ),
    }
    verify_github(headers, b"Hello, World!", SECRETS)
    with pytest.raises(BadSignature):
        verify_github(headers, b"Hello, World?", SECRETS)


def test_github_valid_delivery_is_parsed() -> None:
    delivery = github()
    assert (delivery.source, delivery.event_type, delivery.action) == (
        "github",
        "pull_request",
        "opened",
    )
    assert delivery.delivery_id == "d-1"
    assert delivery.hook_id == "42"
    assert delivery.body == BODY


def test_github_stored_headers_leave_out_signatures() -> None:
    delivery = github(**{"x-hub-signature": "sha1=abc", "authorization": "token x"})
    assert "x-hub-signature-256" not in delivery.headers
    assert "x-hub-signature" not in delivery.headers
    assert "authorization" not in delivery.headers
    assert delivery.headers["x-github-event"] == "pull_request"
    assert delivery.headers["user-agent"].startswith("GitHub-Hookshot/")


@pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
def test_github_body_tampered_by_one_byte_is_refused(index: int) -> None:
    tampered = bytearray(BODY)
    tampered[index] ^= 0x01
    with pytest.raises(BadSignature, match="does not match"):
        github(bytes(tampered))


def test_github_wrong_secret_is_refused() -> None:
    with pytest.raises(BadSignature):
        github(secrets=(b"another secret",))


@pytest.mark.parametrize(
    "configured",
    [(b"new secret", SECRETS[0]), (SECRETS[0], b"new secret")],
    ids=["signed-with-old", "signed-with-new"],
)
def test_github_rotation_accepts_either_secret(configured: tuple[bytes, ...]) -> None:
    assert github(secrets=configured).delivery_id == "d-1"


def test_github_missing_signature_is_refused() -> None:
    with pytest.raises(BadSignature, match="required"):
        github(**{"x-hub-signature-256": ""})


def test_github_sha1_only_is_refused() -> None:
    with pytest.raises(BadSignature, match="sha1"):
        github(**{"x-hub-signature-256": "", "x-hub-signature": "sha1=0123"})


def test_github_signature_without_prefix_is_refused() -> None:
    value = github_headers(BODY, "pull_request")["X-Hub-Signature-256"].removeprefix("sha256=")
    with pytest.raises(BadSignature):
        github(**{"x-hub-signature-256": value})


@pytest.mark.parametrize("header", ["x-github-event", "x-github-delivery"])
def test_github_missing_header_is_refused(header: str) -> None:
    with pytest.raises(MissingHeader, match="required"):
        github(**{header: ""})


INVALID = [
    b"{not json",
    b"[1, 2]",
    b'{"a": NaN}',
    b"\xff\xfe{}",
    # Deep inside, where only the syntax is checked and no object is built.
    b'{"action": "opened", "pull_request": {"title": "caf\xe9"}}',
    b'{"action": "opened", "pull_request": {"title": "\\ud800"}}',
    b'{"action": "opened", "pull_request": {"labels": [1, 2,]}}',
    b'{"action": "opened"} {}',
    # Deeper than the decoder recurses: refused as unreadable, not a 500.
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
]


@pytest.mark.parametrize("body", INVALID)
def test_github_invalid_json_is_refused_after_the_signature(body: bytes) -> None:
    headers = lower(github_headers(body, "push"))
    with pytest.raises(InvalidPayload):
        parse_github(headers, body, secrets=SECRETS, now=0)


# Nesting depth: one fixed limit, wherever a body is read (ingest, the worker, the admin).


def deep_body(depth: int) -> bytes:
    top = {"type": "Issue", "action": "create", "webhookTimestamp": int(time.time() * 1000)}
    return nested_body(depth, top)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 990, 5000])
def test_a_body_nested_past_the_limit_is_refused_the_same_way_however_deep(depth: int) -> None:
    # 600 deep was taken by ingest and then failed in the worker; 5,000 was refused as
    # unreadable: now one limit, one reason.
    body = deep_body(depth)
    with pytest.raises(InvalidPayload) as refused:
        parse_github(lower(github_headers(body, "push")), body, secrets=SECRETS, now=0)
    assert (refused.value.status_code, refused.value.reason) == (400, TOO_DEEP)
    with pytest.raises(InvalidPayload) as refused:
        linear(body, time.time())
    assert refused.value.reason == TOO_DEEP


def test_a_body_an_earlier_release_stored_too_deep_is_read_if_the_stack_allows() -> None:
    # Past MAX_DEPTH (ingest took it before it checked) but within the decoder's stack: read,
    # U+0000 and all, so its event is handled; deeper, refused with the reason, for good.
    body = deep_body(600)
    assert payload_of(body) == json.loads(body.decode().replace("\\u0000", ""))
    with pytest.raises(InvalidPayload) as unreadable:
        payload_of(deep_body(5000))
    assert unreadable.value.reason == TOO_DEEP


def test_a_body_at_the_limit_is_taken_and_read_without_u0000() -> None:
    body = deep_body(MAX_DEPTH)
    assert parse_github(lower(github_headers(body, "push")), body, secrets=SECRETS, now=0)
    assert linear(body, time.time()).event_type == "Issue"
    expected = json.loads(body.decode().replace("\\u0000", ""))
    assert payload_of(body) == expected
    # Brackets in strings are text, not nesting.
    text = json.dumps({"title": "[{" * 5000 + '\\"\\' + "}]" * 5000}).encode()
    assert parse_github(lower(github_headers(text, "push")), text, secrets=SECRETS, now=0)


def on_a_deep_stack(frames: int, read: Callable[[], Any]) -> Any:
    """`read()` called `frames` Python frames down, as a reader deep in a server's or worker's
    calls would be."""
    return read() if frames == 0 else on_a_deep_stack(frames - 1, read)


def test_u0000_leaves_a_payload_at_the_limit_whatever_the_readers_stack() -> None:
    # Stripping U+0000 recursed two frames a level: 500 deep was a RecursionError in the
    # worker, retried eight times over an hour. It walks with a list of its own now.
    body = deep_body(MAX_DEPTH)
    expected = json.loads(body.decode().replace("\\u0000", ""))
    assert on_a_deep_stack(600, lambda: payload_of(body)) == expected


# Text that looks like structure: brackets, quotes, backslashes, escapes, U+0000.
TRICKY = st.text(alphabet='[]{}"\\/\x00u0a\u00e9\n', max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=30,
)


@given(value=JSON_VALUES, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_the_depth_counted_is_the_documents(value: Any, ascii_only: bool, indent: Any) -> None:
    # Wrapped beside more brackets than its depth: not only the count of brackets answers.
    for wrapped in (value, [value, *[[]] * 40]):
        document = json.dumps(wrapped, ensure_ascii=ascii_only, indent=indent).encode()
        depth = depth_of(wrapped)
        assert not nested_deeper_than(document, depth)
        assert nested_deeper_than(document, depth - 1) == (depth > 0)


def linear(body: bytes, now: float, **headers: str):
    sent = lower(linear_headers(body)) | headers
    return parse_linear(sent, body, secrets=(b"linear-test-secret",), now=now, tolerance=60)


def test_linear_valid_delivery_is_parsed() -> None:
    body = linear_body(action="update", type="Comment")
    delivery = linear(body, time.time())
    assert (delivery.source, delivery.event_type, delivery.action) == (
        "linear",
        "Comment",
        "update",
    )
    assert delivery.hook_id == "0e2a3b4c-hook"
    assert "linear-signature" not in delivery.headers
    assert delivery.headers["linear-event"] == "Issue"


@pytest.mark.parametrize("skew", [-61.0, 61.0], ids=["stale", "future"])
def test_linear_timestamp_outside_window_is_refused(skew: float) -> None:
    now = time.time()
    body = linear_body(webhookTimestamp=int((now + skew) * 1000))
    with pytest.raises(StaleDelivery):
        linear(body, now)


def test_a_late_linear_retry_is_keyed_by_its_signed_body() -> None:
    now = time.time()
    hour = 3600.0
    body = linear_body(webhookTimestamp=int((now - 6 * hour) * 1000))
    sent = lower(linear_headers(body, delivery="first-try"))

    def parse(headers: dict[str, str], at: float) -> str:
        return parse_linear(
            headers, body, secrets=(b"linear-test-secret",), now=at, retry_window=8 * hour
        ).delivery_id

    # Six hours late, as Linear's last retry: taken, keyed by the body, whatever the header says.
    key = parse(sent, now)
    assert key == "sha256:" + hashlib.sha256(body).hexdigest()
    assert parse(sent | {"linear-delivery": "replayed"}, now) == key
    # Beyond the window, or from the future, still refused.
    with pytest.raises(StaleDelivery):
        parse(sent, now + 3 * hour)
    with pytest.raises(StaleDelivery):
        parse(sent, now - 7 * hour)


def test_linear_timestamp_inside_window_is_accepted() -> None:
    now = time.time()
    body = linear_body(webhookTimestamp=int((now - 59) * 1000))
    assert linear(body, now).event_type == "Issue"


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [(None, "is missing"), ("1700000000000", "is not a number"), (True, "is not a number")],
    ids=["missing", "string", "boolean"],
)
def test_linear_timestamp_missing_or_not_a_number_says_which(
    timestamp: object, reason: str
) -> None:
    body = linear_body(webhookTimestamp=timestamp)
    with pytest.raises(StaleDelivery, match=f"^webhookTimestamp {reason}"):
        linear(body, time.time())


@pytest.mark.parametrize(
    "timestamp", [10**400, -(10**400), 1e308], ids=["huge", "negative", "largest-float"]
)
def test_linear_timestamp_too_large_for_a_float_is_refused(timestamp: float) -> None:
    with pytest.raises(StaleDelivery, match="more than 60s from now"):
        linear(linear_body(webhookTimestamp=timestamp), time.time())


def test_linear_missing_timestamp_is_refused() -> None:
    body = b'{"type": "Issue", "action": "create"}'
    with pytest.raises(StaleDelivery, match="missing"):
        linear(body, time.time())


def test_linear_bad_signature_is_refused() -> None:
    body = linear_body()
    with pytest.raises(BadSignature):
        linear(body, time.time(), **{"linear-signature": "00" * 32})


def test_linear_signature_of_other_body_is_refused() -> None:
    body = linear_body()
    other = linear_headers(linear_body(action="remove"))["Linear-Signature"]
    with pytest.raises(BadSignature):
        linear(body, time.time(), **{"linear-signature": other})


def test_nul_characters_in_payload_strings_are_dropped_from_the_row_fields() -> None:
    # Text columns cannot hold U+0000; the body keeps it, byte for byte.
    body = linear_body(action="up\x00date", webhookId="hook\x00-1")
    delivery = linear(body, time.time())
    assert (delivery.action, delivery.hook_id, delivery.body) == ("update", "hook-1", body)


def test_a_malformed_content_length_is_refused_without_the_body() -> None:
    assert declared_length(None, 100) is None
    assert declared_length("100", 100) == 100
    for value in ("-1", "1e3", " 5", "٣", "9" * 30):
        with pytest.raises(MissingHeader, match="Content-Length header is malformed"):
            declared_length(value, 100)
    with pytest.raises(BodyTooLarge):
        declared_length("101", 100)


def test_headers_alone_decide_the_refusals_that_need_no_body() -> None:
    body = b'{"action": "create"}'
    good = {k.lower(): v for k, v in linear_headers(body).items()}
    check_linear_headers(good)
    for name, status in (
        ("linear-signature", 401),
        ("linear-delivery", 400),
        ("linear-event", 400),
    ):
        with pytest.raises(WebhookError) as refused:
            check_linear_headers({k: v for k, v in good.items() if k != name})
        assert refused.value.status_code == status
    with pytest.raises(BadSignature, match="not a SHA-256 hex digest"):
        check_linear_headers(good | {"linear-signature": "zz" * 32})
    github = {k.lower(): v for k, v in github_headers(body, "push").items()}
    check_github_headers(github)
    with pytest.raises(BadSignature, match="not a SHA-256 hex digest"):
        check_github_headers(github | {"x-hub-signature-256": "sha256=" + "a" * 63})


def test_a_payload_loses_u0000_wherever_it_is_escaped_and_nothing_else() -> None:
    # A body with no backslash skips the search for the escape: it is decoded as it is.
    assert payload_of(b'{"a": ["x", {"b": "y\\u0000z"}], "c": "\\"q\\""}') == {
        "a": ["x", {"b": "yz"}],
        "c": '"q"',
    }
    assert payload_of(b'{"a\\u0000": "\\u00001"}') == {"a": "1"}
    assert payload_of(b'{"a": "u0000", "b": 1}') == {"a": "u0000", "b": 1}
