"""GitHub's webhook schemas drive parsing and the state handlers: any valid payload of an event
and action hookwise routes is handled (the worker would mark it completed), never failed.

Payloads come from @octokit/webhooks-schemas (tests/contracts/github-webhooks.json, drawn by
tests/contracts/webhooks.py); explicit examples cover what broke other receivers: NUL in text,
nulls where the schemas allow them, enterprise accounts and deleted forks.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import Context
from app.deliveries import github_signature, parse_github, payload_of
from tests.contracts.webhooks import events, payloads, validator
from tests.integration.test_handlers import HANDLED, ROUTER, handle
from tests.pg import TRUNCATE

SECRET = b"webhook-contract"


def signed(event: str, body: bytes) -> dict[str, str]:
    return {
        "x-github-event": event,
        "x-github-delivery": "d-1",
        "x-hub-signature-256": github_signature(SECRET, body),
        "content-type": "application/json",
    }


async def through(conn: asyncpg.Connection, app: Context, event: str, payload: Any) -> int:
    """Receive a delivery as the HTTP layer does, then handle it as the worker does (in one
    transaction), in a database emptied first; how many handlers ran.

    Emptied, because one test's examples share its database, and Hypothesis draws a value it
    drew before on purpose: a pull request number of one example met again in the next, under
    another pull request id, in the same repository, which GitHub never sends."""
    await conn.execute(TRUNCATE)
    body = json.dumps(payload).encode()
    delivery = parse_github(signed(event, body), body, secrets=[SECRET], now=0)
    async with conn.transaction():
        return await handle(
            conn, app, event, payload_of(delivery.body), delivery_id=delivery.delivery_id
        )


def test_every_routed_event_and_action_has_a_schema() -> None:
    described = {name.partition("$")[0] for name in events()}
    assert described == set(HANDLED)
    for action in ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"):
        assert ROUTER.handlers_for("github", "installation", action)
        assert f"installation${action}" in events()
    for name in events():
        event, _, action = name.partition("$")
        assert ROUTER.handlers_for("github", event, action), name


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_valid_payload_is_handled(
    conn: asyncpg.Connection, app: Context, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(events()), label="event$action")
    payload = data.draw(payloads(name), label="payload")
    assert await through(conn, app, name.partition("$")[0], payload) >= 1


# Explicit examples: a drawn payload, changed as other receivers saw GitHub change them.

EXAMPLES = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def valid(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    errors = [e.message for e in validator(name).iter_errors(payload)]
    assert errors == [], errors[:3]
    return payload


PR_ROW = "SELECT * FROM pull_requests WHERE github_id = $1"


@EXAMPLES
@given(payload=payloads("pull_request$opened"))
async def test_nul_in_the_texts_of_a_pull_request(
    conn: asyncpg.Connection, app: Context, payload: dict[str, Any]
) -> None:
    pr = payload["pull_request"]
    pr["title"], pr["body"] = "Fix\x00", "a\x00b"
    pr["head"]["ref"] = "fix\x00branch"
    pr["user"]["login"] = "octo\x00cat"
    await through(conn, app, "pull_request", valid("pull_request$opened", payload))
    row = await conn.fetchrow(PR_ROW, pr["id"])
    assert (row["title"], row["body"], row["head_branch"], row["author"]) == (
        "Fix",
        "ab",
        "fixbranch",
        "octocat",
    )


@EXAMPLES
@given(payload=payloads("pull_request$opened"))
async def test_nulls_where_the_schema_allows_them(
    conn: asyncpg.Connection, app: Context, payload: dict[str, Any]
) -> None:
    pr = payload["pull_request"]
    for key in ("body", "closed_at", "merged_at", "merge_commit_sha", "assignee", "milestone"):
        pr[key] = None
    payload["repository"]["description"] = None
    await through(conn, app, "pull_request", valid("pull_request$opened", payload))
    row = await conn.fetchrow(PR_ROW, pr["id"])
    assert (row["body"], row["merged_at"]) == (None, None)


@EXAMPLES
@given(payload=payloads("pull_request$closed"))
async def test_a_pull_request_from_a_deleted_fork(
    conn: asyncpg.Connection, app: Context, payload: dict[str, Any]
) -> None:
    pr = payload["pull_request"]
    pr["head"]["repo"] = None  # the fork is gone
    await through(conn, app, "pull_request", valid("pull_request$closed", payload))
    row = await conn.fetchrow(PR_ROW, pr["id"])
    assert row["head_repo_full_name"] is None


ENTERPRISE = {
    "id": 77,
    "slug": "big-corp",
    "name": "Big Corp",
    "node_id": "E_77",
    "avatar_url": "https://avatars.githubusercontent.com/b/77",
    "html_url": "https://github.com/enterprises/big-corp",
    "website_url": None,
    "description": None,
    "created_at": "2019-05-15T15:19:25Z",
    "updated_at": "2019-05-15T15:19:25Z",
}


@EXAMPLES
@given(payload=payloads("installation$created"))
async def test_an_enterprise_installation(
    conn: asyncpg.Connection, app: Context, payload: dict[str, Any]
) -> None:
    payload["installation"] |= {"account": ENTERPRISE, "target_type": "Enterprise"}
    await through(conn, app, "installation", payload)
    row = await conn.fetchrow(
        "SELECT account_login, account_type FROM installations WHERE id = $1",
        payload["installation"]["id"],
    )
    assert tuple(row) == ("big-corp", "Enterprise")
