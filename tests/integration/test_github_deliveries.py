"""Deliveries as GitHub really sends them (issue 16): NUL in text, form-encoded bodies,
enterprise accounts, repositories removed without their names. Each through the parsing the
receiver does and the state handlers the worker runs, or the real worker."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import Context
from app.deliveries import (
    MAX_DEPTH,
    TOO_DEEP,
    BadSignature,
    Delivery,
    InvalidPayload,
    github_signature,
    parse_github,
    payload_of,
)
from app.handlers import installations, linear, pull_requests
from app.router import Router
from app.settings import Settings
from app.store import bodies, events, executions
from app.store.executions import Start
from app.worker import Worker
from tests.fixtures import github_example
from tests.harness import Running
from tests.integration.test_handlers import handle
from tests.integration.test_worker import fast, running_worker
from tests.signing import depth_of, github_headers, linear_body, linear_headers, nested_body

SECRET = b"It's a Secret to Everybody"
FORM = "application/x-www-form-urlencoded"
OPENED = {**github_example("pull_request", "opened"), "installation": {"id": 42, "node_id": "I_42"}}


def headers(body: bytes, *, content_type: str = "application/json", signed: bytes | None = None):
    return {
        "x-github-event": "pull_request",
        "x-github-delivery": "d-1",
        "x-hub-signature-256": github_signature(SECRET, body if signed is None else signed),
        "content-type": content_type,
    }


def parse(body: bytes, **kw: Any):
    return parse_github(headers(body, **kw), body, secrets=[SECRET], now=0)


def form(payload: dict[str, Any]) -> bytes:
    return b"payload=" + quote_plus(json.dumps(payload)).encode()


# Form-encoded deliveries (item 4)


def test_a_form_encoded_delivery_is_read_from_its_payload_field() -> None:
    body = form(OPENED)
    delivery = parse(body, content_type=FORM)
    assert delivery.body == body  # stored as it came
    assert (delivery.event_type, delivery.action) == ("pull_request", "opened")
    assert delivery.installation_id == OPENED["installation"]["id"]
    assert payload_of(delivery.body) == OPENED


def test_a_form_is_signed_as_sent_not_as_decoded() -> None:
    body = form(OPENED)
    with pytest.raises(BadSignature):
        parse(body, content_type=FORM, signed=json.dumps(OPENED).encode())


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"payload=%7B%22a%22", FORM, "body is not valid UTF-8 JSON"),
        (b"data=%7B%7D", FORM, "form body must be payload=<urlencoded JSON>"),
        (b"payload=%7B%7D&payload=%7B%7D", FORM, "form body must have exactly one payload field"),
        (b"payload=%FF", FORM, "form body is not valid urlencoded UTF-8"),
        (b'{"action": "opened"}', FORM, "form body must be payload=<urlencoded JSON>"),
        (b"payload=%7B%7D", "application/json", "body is not valid UTF-8 JSON"),
    ],
)
def test_a_bad_form_is_refused_clearly(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        parse(body, content_type=content_type)
    assert refused.value.reason == reason


# NUL in payload text (item 1)


def test_handlers_see_text_without_nul_and_the_body_stays_exact() -> None:
    body = json.dumps({"a": "x\x00y", "k\x00": ["\x00", {"b": "\x00\x00z"}], "n": None}).encode()
    assert b"\\u0000" in body
    assert payload_of(parse(body).body) == {"a": "xy", "k": ["", {"b": "z"}], "n": None}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=JSON)
def test_no_nul_reaches_a_handler_and_other_text_is_untouched(value: Any) -> None:
    text = json.dumps(value)
    seen = payload_of(text.encode())
    assert "\x00" not in json.dumps(seen, ensure_ascii=False)
    assert json.loads(text.replace("\\u0000", "")) == seen


async def test_a_pull_request_with_nul_is_stored_by_the_worker(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    payload = copy.deepcopy(OPENED)
    payload["pull_request"]["title"] = "Fix\x00 it"
    payload["pull_request"]["body"] = "before\x00after"
    body = json.dumps(payload).encode()
    router = Router(installations.router, pull_requests.router)
    async with running_worker(fast(settings), dsn, router) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, body)
        await asyncio.wait_for(idle, 20)
    assert await stored(db) == ("completed", body)
    pr = await db.fetchrow("SELECT title, body FROM pull_requests")
    assert (pr["title"], pr["body"]) == ("Fix it", "beforeafter")


async def test_a_form_encoded_pull_request_is_stored_by_the_worker(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    body = form(OPENED)
    router = Router(installations.router, pull_requests.router)
    async with running_worker(fast(settings), dsn, router) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, body, FORM)
        await asyncio.wait_for(idle, 20)
    assert await stored(db) == ("completed", body)
    pr = await db.fetchrow("SELECT pr_number, title FROM pull_requests")
    assert dict(pr) == {"pr_number": OPENED["number"], "title": OPENED["pull_request"]["title"]}


# Nested deep, with U+0000 (the limit is app/deliveries.py MAX_DEPTH)

STATE_ROUTER = Router(installations.router, pull_requests.router, linear.router)


@pytest.fixture
async def receiving(
    hookwise: Running, settings: Settings, dsn: str
) -> AsyncIterator[tuple[Running, Worker]]:
    """hookwise receiving, and a worker with the state handlers handling what it stores."""
    async with running_worker(fast(settings), dsn, STATE_ROUTER) as (_, worker):
        yield hookwise, worker


# A level: an object whose key may hold U+0000, or an array beside a string that may.
LEVEL = st.tuples(st.sampled_from(["object", "array"]), st.sampled_from(["k", "\x00", "a\x00b"]))


def nest(levels: list[tuple[str, str]], leaf: str) -> str:
    """JSON text of `levels` containers, outermost first, around `leaf`; as text, since
    json.dumps recurses a level at a time."""
    opened, closed = [], []
    for kind, text in levels:
        quoted = json.dumps(text)
        opened.append(f"{{{quoted}: " if kind == "object" else "[")
        closed.append("}" if kind == "object" else f", {quoted}]")
    return "".join(opened) + json.dumps(leaf) + "".join(reversed(closed))


def with_field(payload: dict[str, Any], path: tuple[str, ...], text: str) -> bytes:
    """`payload` as JSON with the JSON text `text` as the value at `path`."""
    marker = "\uffffnested\uffff"
    placed = copy.deepcopy(payload)
    parent = placed
    for name in path[:-1]:
        parent = parent[name]
    parent[path[-1]] = marker
    return json.dumps(placed).replace(json.dumps(marker), text).encode()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    source=st.sampled_from(["github", "linear"]),
    inside=st.booleans(),
    pattern=st.lists(LEVEL, min_size=1, max_size=4),
    depth=st.integers(1, 1_100) | st.integers(MAX_DEPTH - 6, MAX_DEPTH + 6),
    leaf=st.sampled_from(["", "\x00", "x\x00y"]),
)
async def test_nested_json_with_nul_is_refused_at_once_or_handled_at_once(
    db: asyncpg.Connection,
    receiving: tuple[Running, Worker],
    source: str,
    inside: bool,
    pattern: list[tuple[str, str]],
    depth: int,
    leaf: str,
) -> None:
    """However deep and wherever U+0000 is, a delivery is refused with its reason and nothing
    stored, or stored and handled at its first attempt: never a 5xx, never retried (it was
    retried eight times over an hour, from ~500 levels deep)."""
    hookwise, worker = receiving
    delivery = str(uuid.uuid4())
    levels = (pattern * depth)[:depth]
    if source == "github":
        payload = copy.deepcopy(OPENED)
        payload["pull_request"]["title"] = "Fix\x00 it"
        path: tuple[str, ...] = ("pull_request", "deep") if inside else ("deep",)
        body = with_field(payload, path, nest(levels, leaf))
        headers = github_headers(body, "pull_request", delivery=delivery)
    else:
        payload = json.loads(linear_body()) | {"data": {"id": "issue\x00-1", "identifier": "E-1"}}
        path = ("data", "deep") if inside else ("deep",)
        body = with_field(payload, path, nest(levels, leaf))
        headers = linear_headers(body, delivery=delivery)
    nested = len(path) + len(levels)
    response = await hookwise.client.post(f"/webhooks/{source}", content=body, headers=headers)
    await asyncio.wait_for(worker.idle(wake=True), 20)
    row = await db.fetchrow(
        "SELECT status, attempts, last_error FROM integration_events WHERE delivery_id = $1",
        delivery,
    )
    if max(depth_of(payload), nested) > MAX_DEPTH:
        assert (response.status_code, response.json()) == (400, {"error": TOO_DEEP})
        assert row is None
        return
    assert response.status_code in (200, 202), response.text
    assert dict(row) == {"status": "completed", "attempts": 1, "last_error": None}
    if source == "github":
        title = "SELECT title FROM pull_requests WHERE github_id = $1"
        assert await db.fetchval(title, OPENED["pull_request"]["id"]) == "Fix it"
    else:
        issue = "SELECT id FROM linear_issues WHERE identifier = 'E-1'"
        assert await db.fetchval(issue) == "issue-1"


async def store_as_before(ctx: Context, body: bytes) -> uuid.UUID:
    """Store a pull_request delivery as a release that did not check depth did; its event id."""
    delivery = Delivery(
        source="github",
        hook_id="42",
        delivery_id=str(uuid.uuid4()),
        event_type="pull_request",
        action="opened",
        headers={},
        body=body,
    )
    async with ctx.pool.acquire() as conn:
        stored = await events.store(conn, ctx.integration_ids["github"], delivery)
    return stored.id


async def test_a_body_stored_too_deep_before_dead_letters_at_once_and_so_does_its_reaction(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    """Too deep for any stack, with U+0000, stored by a release that took it: its event failed
    in the worker eight times over an hour, and its reaction's claim (which reads the event's
    body) stopped the worker. Both now fail at once with the reason, and the worker goes on."""
    too_deep = nested_body(1_500, OPENED)
    async with running_worker(fast(settings), dsn, STATE_ROUTER) as (ctx, worker):
        event_id = await store_as_before(ctx, too_deep)
        async with ctx.pool.acquire() as conn:
            await executions.start(
                conn,
                Start(
                    workflow="hookwise.review",
                    key="review:deep",
                    subject="pr:deep",
                    subject_label="octo/deep#1",
                    event_id=event_id,
                ),
            )
        await asyncio.wait_for(worker.idle(wake=True), 20)
        # The worker still takes events.
        await store(ctx, json.dumps(OPENED).encode())
        await asyncio.wait_for(worker.idle(wake=True), 20)
        handled = ctx.metrics.render()
    rows = await db.fetch(
        "SELECT status, attempts, last_error FROM integration_events ORDER BY arrival"
    )
    assert [dict(r) for r in rows] == [
        {"status": "failed", "attempts": 1, "last_error": f"InvalidPayload: {TOO_DEEP}"},
        {"status": "completed", "attempts": 1, "last_error": None},
    ]
    run = await db.fetchrow("SELECT status, attempts, error_message FROM workflow_executions")
    assert dict(run) == {
        "status": "failed",
        "attempts": 1,
        "error_message": f"its event's body cannot be read: {TOO_DEEP}",
    }
    assert 'hookwise_dead_letters_total{source="github",event="pull_request"} 1' in handled


async def store(ctx: Context, body: bytes, content_type: str = "application/json") -> None:
    """Receive and store a delivery as the HTTP layer does."""
    sent = {k.lower(): v for k, v in github_headers(body, "pull_request").items()}
    sent["content-type"] = content_type
    delivery = parse_github(sent, body, secrets=ctx.settings.webhooks.secrets_for("github"), now=0)
    async with ctx.pool.acquire() as conn:
        await events.store(conn, ctx.integration_ids["github"], delivery)


async def stored(db: asyncpg.Connection) -> tuple[str, bytes]:
    """The event's status and its body exactly as received."""
    row = await db.fetchrow("SELECT status, body_encoding, body FROM integration_events")
    return row["status"], bodies.unpack(row["body_encoding"], row["body"])


# Enterprise accounts (item 3) and repositories removed without names (item 5)


def enterprise_installation(**account: Any) -> dict[str, Any]:
    payload = copy.deepcopy(github_example("installation", "created"))
    payload["installation"]["account"] = {"id": 77, "slug": "big-corp", "name": "Big Corp"}
    payload["installation"]["account"].update(account)
    payload["installation"]["target_type"] = "Enterprise"
    return payload


@pytest.mark.parametrize("account", [{}, {"login": None}], ids=["no-login", "null-login"])
async def test_an_enterprise_installation_goes_by_its_slug(
    conn: asyncpg.Connection, app: Context, account: dict[str, Any]
) -> None:
    async with conn.transaction():
        await handle(conn, app, "installation", enterprise_installation(**account))
    row = await conn.fetchrow(
        "SELECT account_login, account_type, account_id, target_type FROM installations"
    )
    assert dict(row) == {
        "account_login": "big-corp",
        "account_type": "Enterprise",
        "account_id": 77,
        "target_type": "Enterprise",
    }


async def test_repositories_removed_without_full_name(
    conn: asyncpg.Connection, app: Context
) -> None:
    added = copy.deepcopy(github_example("installation_repositories", "added"))
    async with conn.transaction():
        await handle(conn, app, "installation_repositories", added)
    [repo] = added["repositories_added"][:1]
    removed = {
        **copy.deepcopy(added),
        "action": "removed",
        "repositories_added": [],
        "repositories_removed": [{"id": repo["id"]}, {"id": 999_999}],
    }
    removed["installation"]["updated_at"] = "2030-01-01T00:00:00Z"
    async with conn.transaction():
        await handle(conn, app, "installation_repositories", removed)
    rows = await conn.fetch("SELECT github_id, full_name, status FROM repositories")
    status = {r["github_id"]: (r["full_name"], r["status"]) for r in rows}
    assert status[repo["id"]] == (repo["full_name"], "removed")
    assert 999_999 not in status  # nothing known of it, nothing made up
