"""Linear webhooks end to end: signed by the fake Linear, checked and stored by hookwise over
HTTP, handled by the real worker into `linear_issues`."""

from __future__ import annotations

import time

import pytest

from app.deliveries import BadSignature, StaleDelivery, linear_signature, parse_linear
from tests.linear_world import linear_world

# Signature vectors


def test_linear_signature_known_answer() -> None:
    # RFC 4231 test case 2: HMAC-SHA256, key "Jefe".
    assert linear_signature(b"Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def linear_headers(body: bytes, signature: str) -> dict[str, str]:
    return {"linear-delivery": "d-1", "linear-event": "Issue", "linear-signature": signature}


def body_at(now: float) -> bytes:
    return b'{"type":"Issue","action":"create","webhookTimestamp":%d}' % int(now * 1000)


def test_linear_signature_upper_case_hex_and_any_of_several_secrets() -> None:
    now = time.time()
    body = body_at(now)
    upper = linear_signature(b"old", body).upper()
    delivery = parse_linear(linear_headers(body, upper), body, secrets=(b"new", b"old"), now=now)
    assert delivery.event_type == "Issue"
    with pytest.raises(BadSignature):
        parse_linear(linear_headers(body, upper), body, secrets=(b"new",), now=now)


def test_the_signature_covers_the_timestamp() -> None:
    # A stale body re-signed by someone without the secret cannot pass for a fresh one.
    now = time.time()
    stale = body_at(now - 3600)
    signature = linear_signature(b"s", stale)
    with pytest.raises(StaleDelivery):
        parse_linear(linear_headers(stale, signature), stale, secrets=(b"s",), now=now)
    fresh = body_at(now)
    with pytest.raises(BadSignature):
        parse_linear(linear_headers(fresh, signature), fresh, secrets=(b"s",), now=now)


# Through HTTP and the worker


async def issue_row(db, issue_id: str):
    return await db.fetchrow(
        "SELECT identifier, title, team_key, state_name, state_type, url, removed_at"
        " FROM linear_issues WHERE id = $1",
        issue_id,
    )


async def test_a_stale_webhook_is_refused_and_stores_nothing(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        world.linear.add_team("ENG")
        issue = world.linear.add_issue("ENG", "Login fails")
        # Nine hours old: older than Linear's last retry (HOOKWISE_LINEAR_RETRY_WINDOW, 8 h).
        stale = world.linear.issue_webhook(issue, "create", timestamp=time.time() - 9 * 3600)
        response = await world.linear.deliver(stale)
        assert response.status_code == 401
        assert response.json() == {"error": "webhookTimestamp is more than 60s from now"}
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 0
    assert await db.fetchval("SELECT count(*) FROM linear_issues") == 0


async def test_issue_lifecycle_create_update_remove(settings, dsn, db, fake_github) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        world.linear.add_team("ENG")
        issue = world.linear.add_issue("ENG", "Login fails")
        await world.deliver_issue(issue, "create")
        row = await issue_row(db, issue.id)
        assert dict(row) == {
            "identifier": "ENG-1",
            "title": "Login fails",
            "team_key": "ENG",
            "state_name": "Todo",
            "state_type": "unstarted",
            "url": world.linear.issue_url(issue),
            "removed_at": None,
        }

        created = world.linear.issue_webhook(issue, "update")
        world.linear.move(issue, "In Progress")
        issue.title = "Login fails with SSO"
        await world.deliver_issue(issue, "update")
        row = await issue_row(db, issue.id)
        assert (row["title"], row["state_name"], row["state_type"]) == (
            "Login fails with SSO",
            "In Progress",
            "started",
        )

        # An older update arriving late changes nothing.
        response = await world.linear.deliver(created | {"webhookTimestamp": now_ms()})
        assert response.status_code == 200
        await world.settle()
        assert (await issue_row(db, issue.id))["state_name"] == "In Progress"

        await world.deliver_issue(issue, "remove")
        removed = await issue_row(db, issue.id)
        assert removed["removed_at"] is not None
        assert removed["title"] == "Login fails with SSO"

        # Replayed, in whatever order: the row stays as the newest payload left it.
        await world.replay_all()
        assert dict(await issue_row(db, issue.id)) == dict(removed)

    statuses = await db.fetch("SELECT status FROM integration_events")
    assert {row["status"] for row in statuses} == {"completed"}


async def test_comments_and_other_types_are_stored_and_ignored(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        world.linear.add_team("ENG")
        issue = world.linear.add_issue("ENG", "Login fails")
        comment = {
            "action": "create",
            "type": "Comment",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "data": {"id": "c-1", "body": "Looking", "issueId": issue.id},
            "url": world.linear.issue_url(issue),
            "webhookId": "hook",
            "webhookTimestamp": now_ms(),
        }
        assert (await world.linear.deliver(comment)).status_code == 200
        await world.settle()
    assert await db.fetchval("SELECT status FROM integration_events") == "ignored"
    assert await db.fetchval("SELECT count(*) FROM linear_issues") == 0


async def test_an_issue_without_identifier_gets_one_from_team_and_number(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        world.linear.add_team("OPS")
        issue = world.linear.add_issue("OPS", "Disk full")
        payload = world.linear.issue_webhook(issue, "create")
        del payload["data"]["identifier"]
        assert (await world.linear.deliver(payload)).status_code == 200
        await world.settle()
    assert (await issue_row(db, issue.id))["identifier"] == "OPS-1"


def now_ms() -> int:
    return int(time.time() * 1000)
