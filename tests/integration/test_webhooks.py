"""POST /webhooks/*: what GitHub and Linear see, and what ends up stored."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import httpx
import pytest

from app.deliveries import MAX_DEPTH, TOO_DEEP
from app.store import bodies
from tests.fixtures import github_example, github_examples
from tests.harness import Running
from tests.signing import github_headers, linear_body, linear_headers, nested_body

PR_BODY = json.dumps(github_example("pull_request", "opened")).encode()


async def count_events(db: asyncpg.Connection) -> int:
    return await db.fetchval("SELECT count(*) FROM integration_events")


async def post_github(hookwise: Running, body: bytes, event: str = "pull_request", **kw: str):
    return await hookwise.client.post(
        "/webhooks/github", content=body, headers=github_headers(body, event, **kw)
    )


async def test_every_fixture_payload_is_stored_byte_exact(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    examples = github_examples()
    assert len(examples) == 329
    sent = {}
    for event, payload in examples:
        body = json.dumps(payload, indent=2 if len(sent) % 2 else None).encode()
        delivery = str(uuid.uuid4())
        response = await post_github(hookwise, body, event, delivery=delivery)
        assert response.status_code == 202, (event, response.text)
        assert response.json()["delivery"] == delivery
        sent[delivery] = (event, payload.get("action"), body, response.json()["id"])

    rows = await db.fetch(
        "SELECT id, delivery_id, event_type, action, body_encoding, body, payload, source, status"
        " FROM integration_events"
    )
    assert len(rows) == len(examples)
    for row in rows:
        event, action, body, event_id = sent[row["delivery_id"]]
        assert str(row["id"]) == event_id
        assert (row["source"], row["event_type"], row["action"]) == ("github", event, action)
        assert bodies.unpack(row["body_encoding"], row["body"]) == body
        assert row["payload"] is None  # filled as jsonb by the worker, off the ingest path
        assert row["status"] == "pending"


async def test_stored_headers_are_githubs_and_never_the_signature(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    response = await post_github(hookwise, PR_BODY, delivery="d-headers")
    assert response.status_code == 202
    headers = json.loads(await db.fetchval("SELECT headers FROM integration_events"))
    assert headers["x-github-delivery"] == "d-headers"
    assert headers["x-github-hook-id"] == "42"
    assert headers["content-type"] == "application/json"
    assert not [name for name in headers if "signature" in name]


async def test_same_delivery_twice_is_one_row(hookwise: Running, db: asyncpg.Connection) -> None:
    first = await post_github(hookwise, PR_BODY, delivery="d-twice")
    second = await post_github(hookwise, PR_BODY, delivery="d-twice")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"duplicate": True, "id": first.json()["id"], "delivery": "d-twice"}
    assert await count_events(db) == 1


async def test_fifty_concurrent_copies_are_one_row(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    headers = github_headers(PR_BODY, "pull_request", delivery="d-fifty")
    responses = await asyncio.gather(
        *(
            hookwise.client.post("/webhooks/github", content=PR_BODY, headers=headers)
            for _ in range(50)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_events(db) == 1


async def test_same_guid_from_another_hook_is_another_event(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    # GitHub shares one delivery GUID among every hook subscribed to the event.
    first = await post_github(hookwise, PR_BODY, delivery="d-shared", hook_id="1")
    second = await post_github(hookwise, PR_BODY, delivery="d-shared", hook_id="2")
    assert (first.status_code, second.status_code) == (202, 202)
    assert await count_events(db) == 2


async def test_redelivery_of_a_failed_event_puts_it_back_in_the_queue(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    first = await post_github(hookwise, PR_BODY, delivery="d-failed")
    await db.execute(
        "UPDATE integration_events SET status = 'failed', attempts = 8, last_error = 'boom'"
    )
    again = await post_github(hookwise, PR_BODY, delivery="d-failed")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    row = await db.fetchrow("SELECT status, attempts, last_error FROM integration_events")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["last_error"] == "boom"


async def test_redelivery_of_a_completed_event_leaves_it_alone(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    await post_github(hookwise, PR_BODY, delivery="d-done")
    await db.execute("UPDATE integration_events SET status = 'completed', attempts = 1")
    again = await post_github(hookwise, PR_BODY, delivery="d-done")
    assert again.status_code == 200
    row = await db.fetchrow("SELECT status, attempts FROM integration_events")
    assert (row["status"], row["attempts"]) == ("completed", 1)


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "signature does not match"),
        ({"X-Hub-Signature-256": ""}, 401, "X-Hub-Signature-256 is required"),
        ({"X-GitHub-Event": ""}, 400, "X-GitHub-Event header is required"),
        ({"X-GitHub-Delivery": ""}, 400, "X-GitHub-Delivery header is required"),
    ],
)
async def test_bad_headers_are_refused_and_nothing_is_stored(
    hookwise: Running, db: asyncpg.Connection, change: dict[str, str], status: int, reason: str
) -> None:
    headers = {k: v for k, v in (github_headers(PR_BODY, "pull_request") | change).items() if v}
    response = await hookwise.client.post("/webhooks/github", content=PR_BODY, headers=headers)
    assert response.status_code == status
    assert response.json() == {"error": reason}
    assert await count_events(db) == 0


async def test_signed_body_that_is_not_json_is_400(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    response = await post_github(hookwise, b'{"action": "opened"', "push")
    assert response.status_code == 400
    assert response.json() == {"error": "body is not valid UTF-8 JSON"}
    assert await count_events(db) == 0


async def test_payload_with_nul_escape_is_kept_raw(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    # PostgreSQL's jsonb refuses U+0000, but GitHub can send it (in a commit message, say).
    body = b'{"action": "created", "comment": {"body": "a\\u0000b"}}'
    response = await post_github(hookwise, body, "issue_comment")
    assert response.status_code == 202
    row = await db.fetchrow("SELECT body, payload, action FROM integration_events")
    assert (row["body"], row["payload"], row["action"]) == (body, None, "created")


async def test_nul_in_a_field_that_orders_events_is_stored_all_the_same(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    # A head sha and a Linear issue's id become the event's serial keys, in a text[] column that
    # cannot hold U+0000 either: the delivery is stored (not a 500), its keys without it, as the
    # handlers will read those fields.
    payload = github_example("pull_request", "opened")
    payload["pull_request"]["head"]["sha"] = "abc\u0000def"
    github = json.dumps(payload).encode()
    assert (await post_github(hookwise, github)).status_code == 202
    linear = linear_body(data={"id": "issue\u0000-1", "identifier": "ENG-1"})
    response = await hookwise.client.post(
        "/webhooks/linear", content=linear, headers=linear_headers(linear)
    )
    assert response.status_code == 200, response.text
    rows = await db.fetch(
        "SELECT source, body_encoding, body, serial_keys FROM integration_events ORDER BY source"
    )
    assert [bodies.unpack(r["body_encoding"], r["body"]) for r in rows] == [github, linear]
    repository = payload["repository"]["id"]
    assert f"sha:{repository}:abcdef" in rows[0]["serial_keys"]
    assert rows[1]["serial_keys"] == ["linear:issue:issue-1"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 1_000])
async def test_a_body_nested_too_deep_is_400_with_the_reason_and_nothing_is_stored(
    hookwise: Running, db: asyncpg.Connection, depth: int
) -> None:
    # 500 to 1,000 deep and holding U+0000, it was stored, then failed in the worker eight
    # times over an hour: one limit now, the same answer however deep.
    github = nested_body(depth, github_example("pull_request", "opened"))
    response = await post_github(hookwise, github)
    assert (response.status_code, response.json()) == (400, {"error": TOO_DEEP})
    linear = nested_body(depth, json.loads(linear_body()))
    response = await hookwise.client.post(
        "/webhooks/linear", content=linear, headers=linear_headers(linear)
    )
    assert (response.status_code, response.json()) == (400, {"error": TOO_DEEP})
    assert await count_events(db) == 0


async def test_a_body_as_deep_as_the_limit_with_nul_is_stored(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    github = nested_body(MAX_DEPTH, github_example("pull_request", "opened"))
    assert (await post_github(hookwise, github)).status_code == 202
    linear = nested_body(MAX_DEPTH, json.loads(linear_body()))
    response = await hookwise.client.post(
        "/webhooks/linear", content=linear, headers=linear_headers(linear)
    )
    assert response.status_code == 200, response.text
    rows = await db.fetch("SELECT body_encoding, body FROM integration_events ORDER BY source")
    assert [bodies.unpack(r["body_encoding"], r["body"]) for r in rows] == [github, linear]


async def test_body_over_the_limit_is_413_before_it_is_read(
    settings, dsn: str, db: asyncpg.Connection
) -> None:
    from tests.harness import running_hookwise

    small = settings.with_env(HOOKWISE_MAX_BODY_BYTES=1024)
    body = b'{"pad": "' + b"x" * 2048 + b'"}'
    async with running_hookwise(small, dsn) as hookwise:
        declared = await post_github(hookwise, body)
        assert declared.status_code == 413
        assert declared.json() == {"error": "body is larger than 1024 bytes"}

        async def chunks():
            # No Content-Length: the limit must hold while streaming.
            for start in range(0, len(body), 256):
                yield body[start : start + 256]

        # The server answers 413 and closes the connection while the client is still sending:
        # the client sees either that answer or the connection cut, never an acceptance.
        try:
            streamed = await hookwise.client.post(
                "/webhooks/github", content=chunks(), headers=github_headers(body, "pull_request")
            )
        except httpx.TransportError:
            pass
        else:
            assert streamed.status_code == 413
            assert streamed.headers["connection"] == "close"
        fits = await post_github(hookwise, b'{"pad": "' + b"x" * 900 + b'"}')
        assert fits.status_code == 202
    assert await count_events(db) == 1


async def test_unconfigured_source_is_404(settings, dsn: str, db: asyncpg.Connection) -> None:
    from tests.harness import running_hookwise

    github_only = settings.with_env(LINEAR_WEBHOOK_SECRET=())
    async with running_hookwise(github_only, dsn) as hookwise:
        body = linear_body()
        response = await hookwise.client.post(
            "/webhooks/linear", content=body, headers=linear_headers(body)
        )
        assert response.status_code == 404
        assert response.json() == {"error": "source 'linear' is not configured"}
        unknown = await hookwise.client.post("/webhooks/gitlab", content=b"{}")
        assert unknown.status_code == 404
    assert await count_events(db) == 0


async def test_linear_delivery_is_stored(hookwise: Running, db: asyncpg.Connection) -> None:
    body = linear_body(action="update")
    response = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body, delivery="l-1")
    )
    # Linear's docs want 200: any other status counts as a failed delivery there.
    assert response.status_code == 200
    assert "duplicate" not in response.json()
    again = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body, delivery="l-1")
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    row = await db.fetchrow(
        "SELECT source, hook_id, delivery_id, event_type, action, body FROM integration_events"
    )
    assert dict(row) == {
        "source": "linear",
        "hook_id": "0e2a3b4c-hook",
        "delivery_id": "l-1",
        "event_type": "Issue",
        "action": "update",
        "body": body,
    }


@pytest.mark.parametrize("skew", [-9 * 3600, 120], ids=["stale", "future"])
async def test_linear_delivery_outside_the_window_is_401(
    hookwise: Running, db: asyncpg.Connection, skew: int
) -> None:
    import time

    body = linear_body(webhookTimestamp=int((time.time() + skew) * 1000))
    response = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body)
    )
    assert response.status_code == 401
    assert "webhookTimestamp" in response.json()["error"]
    assert await count_events(db) == 0


async def test_a_late_linear_retry_is_stored_once_however_often_it_comes(
    hookwise: Running, db: asyncpg.Connection
) -> None:
    import time

    # Refused first (say the database was down): Linear retries an hour later, its timestamp
    # perhaps the first one. Taken once, keyed by the signed body; a replay of it is a duplicate.
    body = linear_body(webhookTimestamp=int((time.time() - 3600) * 1000))
    first = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body, delivery="retry-1")
    )
    assert first.status_code == 200
    assert first.json()["delivery"].startswith("sha256:")
    again = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body, delivery="replayed")
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert await count_events(db) == 1
    headers = json.loads(await db.fetchval("SELECT headers FROM integration_events"))
    assert headers["linear-delivery"] == "retry-1"


async def test_health_and_readiness(hookwise: Running) -> None:
    assert (await hookwise.client.get("/healthz")).json() == {"status": "ok"}
    ready = await hookwise.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"


async def test_wrong_method_is_405_json_free_of_traces(hookwise: Running) -> None:
    response = await hookwise.client.get("/webhooks/github")
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}
    assert response.headers["allow"] == "POST"
    assert "Traceback" not in response.text
    nowhere = await hookwise.client.get("/webhooks")
    assert (nowhere.status_code, nowhere.json()) == (404, {"error": "Not Found"})
