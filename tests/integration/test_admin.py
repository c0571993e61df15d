"""/admin over plain HTTP: who gets in, what each page shows, and the two buttons' POSTs.

The browser's view of the same pages is tests/integration/test_admin_browser.py; this file
covers what needs no browser, faster.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from app.deliveries import MAX_DEPTH, Delivery
from app.http.sessions import COOKIE, Sessions
from app.settings import Settings
from app.store import events
from tests.admin_support import (
    TOKEN,
    Flaky,
    csrf_of,
    log_in,
    post_github,
    post_linear,
    settle,
    with_admin,
    working,
)
from tests.conftest import with_github
from tests.fakes.github import FakeGitHub
from tests.harness import Running, running_hookwise
from tests.integration.test_redeliver import miss
from tests.signing import nested_body


@pytest.fixture
async def admin(settings: Settings, dsn: str) -> AsyncIterator[Running]:
    configured = with_admin(settings, HOOKWISE_MAX_ATTEMPTS=2, HOOKWISE_RETRY_BASE_SECONDS=0.0)
    async with running_hookwise(configured, dsn) as running:
        yield running


@pytest.fixture
async def client(admin: Running) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in to the admin pages."""
    async with httpx.AsyncClient(base_url=admin.url, timeout=30) as client:
        response = await log_in(client)
        assert response.status_code == 303, response.text
        yield client


# ---------------------------------------------------------------------------------------------
# The session, without a server
# ---------------------------------------------------------------------------------------------


def test_a_session_cookie_is_signed_expires_and_never_holds_the_token() -> None:
    sessions = Sessions.for_token(TOKEN, lifetime=3600)
    cookie = sessions.issue(now=1000.0)
    assert TOKEN not in cookie
    session = sessions.session_id(cookie, now=1000.0 + 3599)
    assert session is not None
    assert sessions.session_id(cookie, now=1000.0 + 3601) is None
    forged = cookie.rsplit(".", 1)[0] + ".AAAA"
    assert sessions.session_id(forged, now=1000.0) is None
    # Re-dated: the signature covers the issue time.
    sid, _, signature = cookie.split(".")
    assert sessions.session_id(f"{sid}.999999.{signature}", now=1000.0) is None
    assert Sessions.for_token("another-token-0123456789").session_id(cookie, now=1000.0) is None
    for junk in (None, "", "a.b", "a.b.c.d"):
        assert sessions.session_id(junk, now=1000.0) is None


def test_a_csrf_token_is_good_for_its_own_session_only() -> None:
    sessions = Sessions.for_token(TOKEN)
    assert sessions.csrf_matches("one", sessions.csrf_token("one"))
    assert not sessions.csrf_matches("two", sessions.csrf_token("one"))
    assert not sessions.csrf_matches("one", "")
    # A CSRF token is no cookie signature, and the other way round.
    cookie = sessions.issue(now=1000.0)
    sid, issued, _ = cookie.split(".")
    assert sessions.session_id(f"{sid}.{issued}.{sessions.csrf_token(sid)}", now=1000.0) is None


def test_the_admin_token_must_not_be_guessable(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        with_admin(settings, HOOKWISE_ADMIN_TOKEN="hunter2")
    assert with_admin(settings, HOOKWISE_ADMIN_TOKEN="").admin.token is None


# ---------------------------------------------------------------------------------------------
# Who gets in
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin", "/admin/login", "/admin/deliveries"])
async def test_without_the_setting_there_is_no_admin(hookwise: Running, path: str) -> None:
    assert (await hookwise.client.get(path)).status_code == 404
    assert (await hookwise.client.post(path, data={"token": TOKEN})).status_code in (404, 405)


async def test_a_page_sends_a_stranger_to_the_login_and_back(admin: Running) -> None:
    response = await admin.client.get("/admin/deliveries?status=failed")
    assert response.status_code == 303
    back = "/admin/login?next=%2Fadmin%2Fdeliveries%3Fstatus%3Dfailed"
    assert response.headers["location"] == back
    form = await admin.client.get(response.headers["location"])
    assert 'name="next" value="/admin/deliveries?status=failed"' in form.text
    logged_in = await admin.client.post(
        "/admin/login", data={"token": TOKEN, "next": "/admin/deliveries?status=failed"}
    )
    assert logged_in.headers["location"] == "/admin/deliveries?status=failed"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/metrics"])
async def test_login_goes_nowhere_but_the_admin_pages(admin: Running, target: str) -> None:
    response = await admin.client.post("/admin/login", data={"token": TOKEN, "next": target})
    assert response.headers["location"] == "/admin/deliveries"


async def test_a_wrong_token_is_refused_and_sets_no_cookie(admin: Running) -> None:
    response = await admin.client.post("/admin/login", data={"token": TOKEN[:-1] + "x"})
    assert response.status_code == 401
    assert "That is not the admin token." in response.text
    assert "set-cookie" not in response.headers
    assert (await admin.client.get("/admin/deliveries")).status_code == 303


async def test_the_session_cookie_is_httponly_strict_and_secure_on_https(admin: Running) -> None:
    plain = await log_in(admin.client)
    cookie = SimpleCookie(plain.headers["set-cookie"])[COOKIE]
    assert TOKEN not in cookie.value
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "strict", "/admin")
    assert not cookie["secure"]
    # Behind a TLS-terminating proxy on this host: uvicorn trusts its X-Forwarded-Proto.
    tls = await admin.client.post(
        "/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"}
    )
    assert SimpleCookie(tls.headers["set-cookie"])[COOKIE]["secure"]


async def test_a_forged_cookie_is_no_session(admin: Running) -> None:
    cookie = Sessions.for_token("not-the-admin-token-at-all").issue(
        now=datetime.now(UTC).timestamp()
    )
    response = await admin.client.get("/admin/deliveries", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert response.status_code == 303


async def test_logging_out_ends_the_session(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/deliveries")
    response = await client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert response.headers["location"] == "/admin/login"
    assert (await client.get("/admin/deliveries")).status_code == 303


async def test_pages_are_not_cached_framed_or_scripted(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/deliveries")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    css = await client.get("/admin/static/admin.css")
    assert css.headers["content-type"].startswith("text/css")


# ---------------------------------------------------------------------------------------------
# CSRF
# ---------------------------------------------------------------------------------------------


async def failed_event(admin: Running, db: asyncpg.Connection) -> str:
    event_id = await post_github(admin, "ping", {"zen": "x", "hook_id": 42}, delivery="d-f")
    await db.execute("UPDATE integration_events SET status = 'failed', attempts = 2")
    return event_id


@pytest.mark.parametrize("csrf", [None, "", "forged"])
async def test_a_post_without_the_sessions_csrf_token_is_refused(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection, csrf: str | None
) -> None:
    event_id = await failed_event(admin, db)
    data = {} if csrf is None else {"csrf": csrf}
    response = await client.post(f"/admin/deliveries/{event_id}/replay", data=data)
    assert response.status_code == 403
    assert await db.fetchval("SELECT status FROM integration_events") == "failed"


async def test_a_csrf_token_without_its_session_is_refused(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    event_id = await failed_event(admin, db)
    csrf = csrf_of((await client.get("/admin/deliveries")).text)
    async with httpx.AsyncClient(base_url=admin.url) as stranger:
        response = await stranger.post(f"/admin/deliveries/{event_id}/replay", data={"csrf": csrf})
        assert response.status_code == 403
        # Another session's token does not do either.
        await log_in(stranger)
        response = await stranger.post(f"/admin/deliveries/{event_id}/replay", data={"csrf": csrf})
        assert response.status_code == 403
    assert await db.fetchval("SELECT status FROM integration_events") == "failed"


# ---------------------------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------------------------


def listed(html: str) -> list[str]:
    """Delivery ids in the list, in page order."""
    return [part.split("</code>", 1)[0] for part in html.split("<td><code>")[1:]]


async def test_deliveries_filter_by_source_event_status_and_time(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await post_github(admin, "ping", {"zen": "a"}, delivery="gh-ping")
    await post_github(admin, "push", {"ref": "refs/heads/main"}, delivery="gh-push")
    await post_github(admin, "push", {"ref": "refs/heads/old"}, delivery="gh-push-old")
    await post_linear(admin, delivery="lin-issue")
    await db.execute(
        "UPDATE integration_events SET status = 'failed', last_error = 'KeyError: x'"
        " WHERE delivery_id = 'gh-push'"
    )
    await db.execute(
        "UPDATE integration_events SET received_at = now() - interval '2 days'"
        " WHERE delivery_id = 'gh-push-old'"
    )

    async def shown(**query: str) -> list[str]:
        response = await client.get("/admin/deliveries", params=query)
        assert response.status_code == 200, response.text
        return listed(response.text)

    assert await shown() == ["lin-issue", "gh-push", "gh-ping", "gh-push-old"]
    assert await shown(source="linear") == ["lin-issue"]
    assert await shown(source="github", event="push") == ["gh-push", "gh-push-old"]
    assert await shown(status="failed") == ["gh-push"]
    assert await shown(since="1d") == ["lin-issue", "gh-push", "gh-ping"]
    assert await shown(until="1d") == ["gh-push-old"]
    until = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert await shown(until=until, event="push") == ["gh-push-old"]
    assert "KeyError: x" in (await client.get("/admin/deliveries")).text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "since: &#39;yesterday&#39; is neither a duration"),
        ({"status": "lost"}, "unknown status &#39;lost&#39;"),
        ({"page": "0"}, "page must be a number from 1 on"),
        # Each of these was a 500: an offset beyond bigint, a digit int() cannot read, a
        # duration beyond the calendar, U+0000 that no text parameter can carry.
        ({"page": "9" * 20}, "page must be a number from 1 to"),
        ({"page": "\u00b2"}, "page must be a number from 1 on"),
        ({"since": "9" * 20 + "d"}, "is too far back"),
        ({"event": "push\x00"}, "event: no event type holds U+0000"),
        # A time at the calendar's edge whose offset takes it off the calendar in UTC.
        ({"since": "0001-01-01T00:00:00+14:00"}, "beyond the calendar once in UTC"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "beyond the calendar once in UTC"),
    ],
)
async def test_a_bad_filter_is_explained(
    client: httpx.AsyncClient, query: dict[str, str], message: str
) -> None:
    response = await client.get("/admin/deliveries", params=query)
    assert response.status_code == 400
    assert message in response.text


async def test_deliveries_come_in_pages_of_fifty(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for number in range(120):
        await post_github(admin, "ping", {"zen": str(number)}, delivery=f"d-{number:03d}")
    await db.execute(
        "UPDATE integration_events"
        " SET received_at = now() - make_interval(secs => 1000 - substr(delivery_id, 3)::int)"
    )
    first = await client.get("/admin/deliveries", params={"event": "ping"})
    assert listed(first.text) == [f"d-{n:03d}" for n in range(119, 69, -1)]
    assert 'href="/admin/deliveries?event=ping&amp;page=2" rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    last = await client.get("/admin/deliveries", params={"event": "ping", "page": "3"})
    assert listed(last.text) == [f"d-{n:03d}" for n in range(19, -1, -1)]
    assert 'href="/admin/deliveries?event=ping&amp;page=2" rel="prev"' in last.text
    assert 'rel="next"' not in last.text


async def test_a_delivery_shows_headers_payload_and_every_failed_attempt(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    payload = {"zen": "<script>alert('zen')</script>", "hook_id": 42}
    event_id = await post_github(admin, "ping", payload, delivery="d-shown")
    flaky = Flaky(failures=2)
    async with working(admin, flaky.router()) as worker:
        await settle(worker)
    row = await db.fetchrow("SELECT status, attempts FROM integration_events")
    assert (row["status"], row["attempts"]) == ("failed", 2)

    page = await client.get(f"/admin/deliveries/{event_id}")
    assert page.status_code == 200
    html = page.text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;zen&#39;)&lt;/script&gt;" in html
    assert "  &#34;hook_id&#34;: 42" in html  # indented again from the raw body
    assert "<th>x-github-delivery</th><td><code>d-shown</code>" in html
    assert "x-hub-signature" not in html
    assert html.count("RuntimeError: upstream said &lt;no&gt; on call") == 3  # 2 attempts, last
    assert ">1</td>" in html and ">2</td>" in html
    assert (await client.get(f"/admin/deliveries/{uuid.uuid4()}")).status_code == 404


@pytest.mark.parametrize("depth", [MAX_DEPTH, 600, 990])
async def test_a_delivery_nested_deep_is_shown_as_it_came(
    admin: Running, client: httpx.AsyncClient, depth: int
) -> None:
    # Stored by a release that took bodies this deep, it was a 500: indenting it recursed.
    body = nested_body(depth, {"zen": "<deep>"})
    delivery = Delivery(
        source="github",
        hook_id="42",
        delivery_id=f"d-{depth}",
        event_type="ping",
        action=None,
        headers={},
        body=body,
    )
    async with admin.ctx.pool.acquire() as conn:
        stored = await events.store(conn, admin.ctx.integration_ids["github"], delivery)
    page = await client.get(f"/admin/deliveries/{stored.id}")
    assert page.status_code == 200
    shown = "&#34;zen&#34;: &#34;&lt;deep&gt;&#34;"
    if depth <= MAX_DEPTH:
        assert "\n  " + shown in page.text  # indented, one key a line
    else:
        assert "{" + shown + ", &#34;deep&#34;: {&#34;k\\u00001&#34;: [" in page.text


async def test_replay_queues_a_failed_delivery_again(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    event_id = await failed_event(admin, db)
    page = await client.get(f"/admin/deliveries/{event_id}")
    response = await client.post(
        f"/admin/deliveries/{event_id}/replay", data={"csrf": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/deliveries/{event_id}?replayed=1"
    row = await db.fetchrow("SELECT status, attempts FROM integration_events")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    shown = await client.get(response.headers["location"])
    assert "Queued again" in shown.text
    assert '<span class="status pending" id="status">pending</span>' in shown.text


async def test_replay_leaves_an_event_being_handled_alone(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    event_id = await failed_event(admin, db)
    await db.execute("UPDATE integration_events SET status = 'processing'")
    page = await client.get(f"/admin/deliveries/{event_id}")
    assert '<button type="submit" disabled>Replay</button>' in page.text
    response = await client.post(
        f"/admin/deliveries/{event_id}/replay", data={"csrf": csrf_of(page.text)}
    )
    assert response.headers["location"].endswith("?replayed=0")
    assert "Not replayed" in (await client.get(response.headers["location"])).text


async def test_replaying_an_id_no_delivery_has_is_not_found(
    admin: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    event_id = await failed_event(admin, db)
    page = await client.get(f"/admin/deliveries/{event_id}")
    unknown = uuid.uuid4()
    response = await client.post(
        f"/admin/deliveries/{unknown}/replay", data={"csrf": csrf_of(page.text)}
    )
    # As the delivery's own page answers for that id: no redirect to a page that is not there.
    assert response.status_code == 404
    assert f"No stored delivery has id {unknown}." in response.text
    row = await db.fetchrow("SELECT status, attempts FROM integration_events")
    assert (row["status"], row["attempts"]) == ("failed", 2)


# ---------------------------------------------------------------------------------------------
# Installations and a pull request's timeline
# ---------------------------------------------------------------------------------------------

SEED_INSTALLATIONS = """
INSERT INTO installations (id, account_login, account_type, repository_selection)
VALUES (77, 'octo-org', 'Organization', 'selected'), (78, 'gone-user', 'User', 'all');
UPDATE installations SET deleted_at = now() WHERE id = 78;
INSERT INTO repositories (github_id, installation_id, owner, name, full_name, status,
                          failure_count, last_error)
VALUES (1001, 77, 'octo-org', 'widgets', 'octo-org/widgets', 'active', 0, NULL),
       (1002, 77, 'octo-org', 'gadgets', 'octo-org/gadgets', 'error', 3, '404 <Not Found>'),
       (1003, 78, 'gone-user', 'old', 'gone-user/old', 'removed', 0, NULL);
"""


async def test_installations_list_their_repositories(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute(SEED_INSTALLATIONS)
    html = (await client.get("/admin/installations")).text
    assert html.index("octo-org") < html.index("octo-org/gadgets") < html.index("octo-org/widgets")
    assert html.index("octo-org/widgets") < html.index("gone-user") < html.index("gone-user/old")
    assert "404 &lt;Not Found&gt;" in html
    assert '<span class="status error">error</span></td>\n        <td>3</td>' in html
    assert "uninstalled" in html


SEED_PULL = """
INSERT INTO pull_requests (github_id, repository_id, pr_number, title, state, last_trigger,
                           head_sha, head_branch, author)
SELECT 5001, id, 7, 'Rework <calc>', 'opened', 'opened', 'aaaaaaa1', 'fix-calc', 'octocat'
FROM repositories WHERE github_id = 1001;
UPDATE pull_requests SET state = 'merged', last_trigger = 'merged';
UPDATE pr_state_history SET created_at = $1::timestamptz + interval '5 minutes'
WHERE new_state = 'merged';
UPDATE pr_state_history SET created_at = $1::timestamptz WHERE new_state = 'opened';
INSERT INTO check_runs (github_id, external_id, repository_id, pr_id, check_name, head_sha,
                        status, conclusion, completed_at)
SELECT 6001, '6001', repository_id, id, 'tests', 'aaaaaaa1', 'completed', 'failure',
       $1::timestamptz + interval '1 minute'
FROM pull_requests;
INSERT INTO analysis_results (check_run_id, pull_request_id, category, root_cause, status,
                              created_at)
SELECT c.id, c.pr_id, 'test', 'add() subtracts', 'completed',
       $1::timestamptz + interval '2 minutes'
FROM check_runs c;
INSERT INTO fix_attempts (analysis_result_id, pull_request_id, check_run_id, fix_strategy,
                          status, attempt_number, commit_sha, created_at)
SELECT a.id, a.pull_request_id, a.check_run_id, 'commit', 'succeeded', 1, 'bbbbbbb2',
       $1::timestamptz + interval '3 minutes'
FROM analysis_results a;
INSERT INTO reviews (pr_id, reviewer_type, head_sha, status, feedback, created_at)
SELECT id, 'ai', 'aaaaaaa1', 'posted', 'Looks fine now.', $1::timestamptz + interval '4 minutes'
FROM pull_requests;
"""


async def test_a_pull_requests_timeline_is_in_time_order(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute(SEED_INSTALLATIONS)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    # One statement at a time: asyncpg sends a multi-statement string only without arguments.
    for statement in SEED_PULL.split(";\n"):
        if statement.strip():
            args = (start,) if "$1" in statement else ()
            await db.execute(statement, *args)
    pull_id = await db.fetchval("SELECT id FROM pull_requests")
    repository_id = await db.fetchval("SELECT id FROM repositories WHERE github_id = 1001")

    listing = (await client.get("/admin/pulls", params={"repository": repository_id})).text
    assert f'href="/admin/pulls/{pull_id}">octo-org/widgets#7</a>' in listing
    assert "Rework &lt;calc&gt;" in listing
    html = (await client.get(f"/admin/pulls/{pull_id}")).text
    order = [
        "2026-11-23 09:00:00 UTC</td>\n      <td>state</td>\n      <td>opened",
        "09:01:00 UTC</td>\n      <td>check run</td>\n      <td>tests",
        "09:02:00 UTC</td>\n      <td>analysis</td>",
        "09:03:00 UTC</td>\n      <td>fix</td>\n      <td>commit fix, attempt 1",
        "09:04:00 UTC</td>\n      <td>review</td>",
        "09:05:00 UTC</td>\n      <td>state</td>\n      <td>opened → merged",
    ]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    assert "add() subtracts" in html and "commit bbbbbbb" in html and "Looks fine now." in html
    # Pull requests are named by uuid: no number to count up from.
    assert (await client.get(f"/admin/pulls/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/admin/pulls/1")).status_code == 404


async def test_a_repositorys_settings_override_is_set_checked_and_removed(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute(SEED_INSTALLATIONS)
    repository_id = await db.fetchval("SELECT id FROM repositories WHERE github_id = 1001")
    listing = (await client.get("/admin/installations")).text
    url = f"/admin/repositories/{repository_id}/settings"
    assert f'href="{url}">as configured</a>' in listing
    page = (await client.get(url)).text
    assert "Settings of octo-org/widgets" in page

    refused = await client.post(url, data={"csrf": csrf_of(page), "override": "fix_mode: push"})
    assert refused.status_code == 400
    assert "the override: fix_mode must be suggest or commit" in refused.text
    assert "fix_mode: push" in refused.text  # kept in the form to mend
    # Workflows are declared in the files only: an override's would be stored and never run.
    workflows = "workflows:\n  triage:\n    on: {manual: true}\n    steps: []\n"
    refused = await client.post(url, data={"csrf": csrf_of(page), "override": workflows})
    assert refused.status_code == 400
    assert "the override: workflows are declared in .github/hookwise.yml, not here" in refused.text
    assert (
        await db.fetchval("SELECT config_override FROM repositories WHERE id = $1", repository_id)
        is None
    )

    wanted = "fix_mode: commit\nmax_fix_attempts: 1\n"
    saved = await client.post(url, data={"csrf": csrf_of(page), "override": wanted})
    assert (saved.status_code, saved.headers["location"]) == (303, f"{url}?saved=1")
    stored = await db.fetchval(
        "SELECT config_override::text FROM repositories WHERE id = $1", repository_id
    )
    assert json.loads(stored) == {"fix_mode": "commit", "max_fix_attempts": 1}
    shown = (await client.get(f"{url}?saved=1")).text
    assert "Saved" in shown and "max_fix_attempts: 1" in shown
    assert f'href="{url}">overridden</a>' in (await client.get("/admin/installations")).text

    # YAML's \\0 escape: jsonb cannot store U+0000, so it is refused as a wrong value (not a 500).
    for wrong, setting in (
        ('model: "a\\0b"', "model"),
        ('ignored_paths: ["a\\0"]', "ignored_paths"),
    ):
        refused = await client.post(url, data={"csrf": csrf_of(page), "override": wrong})
        assert refused.status_code == 400
        assert f"the override: {setting} must be" in refused.text
    # A thousand `[` deep ran PyYAML out of stack: a 500 (and at 1,500 a reset connection).
    deep = "review: " + "[" * 1000 + "]" * 1000
    refused = await client.post(url, data={"csrf": csrf_of(page), "override": deep})
    assert refused.status_code == 400
    assert "the override is nested too deeply" in refused.text
    kept = await db.fetchval(
        "SELECT config_override::text FROM repositories WHERE id = $1", repository_id
    )
    assert json.loads(kept) == {"fix_mode": "commit", "max_fix_attempts": 1}

    forged = await client.post(url, data={"csrf": "forged", "override": ""})
    assert forged.status_code == 403
    cleared = await client.post(url, data={"csrf": csrf_of(page), "override": ""})
    assert cleared.status_code == 303
    assert (
        await db.fetchval("SELECT config_override FROM repositories WHERE id = $1", repository_id)
        is None
    )
    assert (await client.get(f"/admin/repositories/{uuid.uuid4()}/settings")).status_code == 404


# ---------------------------------------------------------------------------------------------
# Cancelling an execution that waits
# ---------------------------------------------------------------------------------------------

# A review a rate limit put off for three hours.
WAITING_EXECUTION = """
INSERT INTO workflow_executions (workflow_id, execution_id, subject, subject_label, run_after,
                                 error_message)
SELECT id, 'review:widgets#7@aaaaaaa1', 'pr:1', 'octo-org/widgets#7',
       now() + interval '3 hours', 'the model is rate limited'
FROM workflows WHERE name = 'hookwise.review'
RETURNING id
"""


async def test_a_waiting_execution_is_cancelled_from_its_page(
    client: httpx.AsyncClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    execution_id = await db.fetchval(WAITING_EXECUTION)
    url = f"/admin/executions/{execution_id}"
    page = (await client.get(url)).text
    assert '<span class="status pending">pending</span>' in page
    assert "<dt>Due</dt>" in page
    assert f'<form method="post" action="{url}/cancel">' in page

    # Without the session's CSRF token: refused, and it still waits.
    assert (await client.post(f"{url}/cancel", data={"csrf": "forged"})).status_code == 403
    assert await db.fetchval("SELECT status FROM workflow_executions") == "pending"

    response = await client.post(f"{url}/cancel", data={"csrf": csrf_of(page)})
    assert (response.status_code, response.headers["location"]) == (303, f"{url}?cancelled=1")
    shown = (await client.get(response.headers["location"])).text
    assert '<span class="status cancelled">cancelled</span>' in shown
    assert "Cancelled: no worker will run it." in shown
    assert "cancelled by an operator (admin)" in shown  # its reason, and its log line
    assert "Cancel</button>" not in shown and "<dt>Due</dt>" not in shown
    row = await db.fetchrow("SELECT status, error_message, completed_at FROM workflow_executions")
    assert tuple(row)[:2] == ("cancelled", "cancelled by an operator (admin)")
    assert row["completed_at"] is not None
    [logged] = [r for r in caplog.records if getattr(r, "action", "") == "admin_execution_cancel"]
    assert (logged.execution_id, logged.outcome) == (str(execution_id), "cancelled")

    # Again: it is not pending any more, and the page says why.
    again = await client.post(f"{url}/cancel", data={"csrf": csrf_of(page)})
    assert again.status_code == 409
    assert f"Not cancelled: execution {execution_id} is cancelled already." in again.text


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("running", "is running now, so it was not cancelled"),
        ("completed", "has finished (completed): only a pending one is cancelled"),
    ],
)
async def test_an_execution_not_waiting_is_not_cancelled(
    client: httpx.AsyncClient, db: asyncpg.Connection, status: str, said: str
) -> None:
    execution_id = await db.fetchval(WAITING_EXECUTION)
    await db.execute(
        "UPDATE workflow_executions SET status = $1::text, attempts = 1,"
        " locked_until = CASE WHEN $1::text = 'running' THEN now() + interval '5 minutes' END,"
        " completed_at = CASE WHEN $1::text = 'completed' THEN now() END",
        status,
    )
    url = f"/admin/executions/{execution_id}"
    page = (await client.get(url)).text
    assert "Cancel</button>" not in page
    # A form of the page as it was when it still waited.
    response = await client.post(f"{url}/cancel", data={"csrf": csrf_of(page)})
    assert response.status_code == 409
    assert f"Not cancelled: execution {execution_id} {said}" in response.text
    assert f'<span class="status {status}">{status}</span>' in response.text
    assert await db.fetchval("SELECT status FROM workflow_executions") == status


async def test_a_running_execution_whose_worker_stopped_answering_is_cancelled(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Its lease expired: no worker holds it, and the next claim would run it again from the
    start. The page says so, and cancels it."""
    execution_id = await db.fetchval(WAITING_EXECUTION)
    await db.execute(
        "UPDATE workflow_executions SET status = 'running', attempts = 1, error_message = NULL,"
        " locked_until = now() - interval '1 minute'"
    )
    url = f"/admin/executions/{execution_id}"
    page = (await client.get(url)).text
    assert '<span class="status running">running</span>' in page
    assert "its worker stopped answering; the next claim takes it over" in page
    assert f'<form method="post" action="{url}/cancel">' in page
    response = await client.post(f"{url}/cancel", data={"csrf": csrf_of(page)})
    assert (response.status_code, response.headers["location"]) == (303, f"{url}?cancelled=1")
    shown = (await client.get(response.headers["location"])).text
    assert '<span class="status cancelled">cancelled</span>' in shown
    assert "stopped answering; the next claim" not in shown
    said = "cancelled by an operator (admin): its worker had stopped answering (its lease expired)"
    assert said in shown
    row = await db.fetchrow("SELECT status, error_message, locked_until FROM workflow_executions")
    assert tuple(row) == ("cancelled", said, None)


async def test_cancelling_an_id_no_execution_has_is_not_found(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.fetchval(WAITING_EXECUTION)
    csrf = csrf_of((await client.get("/admin/deliveries")).text)
    unknown = uuid.uuid4()
    response = await client.post(f"/admin/executions/{unknown}/cancel", data={"csrf": csrf})
    assert response.status_code == 404
    assert f"No execution has id {unknown}." in response.text
    assert await db.fetchval("SELECT status FROM workflow_executions") == "pending"


# ---------------------------------------------------------------------------------------------
# Replaying a finished execution
# ---------------------------------------------------------------------------------------------


async def test_a_finished_execution_is_replayed_from_its_page(
    client: httpx.AsyncClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    execution_id = await db.fetchval(WAITING_EXECUTION)
    await db.execute(
        "UPDATE workflow_executions SET status = 'failed', attempts = 3, completed_at = now(),"
        " error_message = 'the model is unavailable (529)'"
    )
    url = f"/admin/executions/{execution_id}"
    page = (await client.get(url)).text
    assert f'<form method="post" action="{url}/replay">' in page
    assert "Cancel</button>" not in page

    # Without the session's CSRF token: refused, and it stays failed.
    assert (await client.post(f"{url}/replay", data={"csrf": "forged"})).status_code == 403
    assert await db.fetchval("SELECT status FROM workflow_executions") == "failed"

    response = await client.post(f"{url}/replay", data={"csrf": csrf_of(page)})
    assert (response.status_code, response.headers["location"]) == (303, f"{url}?replayed=1")
    shown = (await client.get(response.headers["location"])).text
    assert '<span class="status pending">pending</span>' in shown
    assert "Replayed: pending again, due now" in shown
    assert "<dt>Due</dt>" in shown and "Cancel</button>" in shown
    assert "Replay</button>" not in shown and "the model is unavailable" not in shown
    row = await db.fetchrow("SELECT status, attempts, completed_at FROM workflow_executions")
    assert tuple(row) == ("pending", 0, None)
    [logged] = [r for r in caplog.records if getattr(r, "action", "") == "admin_execution_replay"]
    assert (logged.execution_id, logged.outcome) == (str(execution_id), "replayed")
    # The execution's own log says it was replayed, and from where.
    assert "replayed by an operator (admin)" in shown

    # Again, from the page as it was: it waits already, and the page says so as the CLI does.
    again = await client.post(f"{url}/replay", data={"csrf": csrf_of(page)})
    assert again.status_code == 409
    assert (
        f"Not replayed: execution {execution_id} is pending already: it waits to run,"
        " so it was not replayed." in again.text
    )
    assert await db.fetchval("SELECT attempts FROM workflow_executions") == 0


async def test_a_running_execution_is_not_replayed(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    execution_id = await db.fetchval(WAITING_EXECUTION)
    await db.execute(
        "UPDATE workflow_executions SET status = 'running', attempts = 1,"
        " locked_until = now() + interval '5 minutes'"
    )
    url = f"/admin/executions/{execution_id}"
    page = (await client.get(url)).text
    assert "Replay</button>" not in page
    response = await client.post(f"{url}/replay", data={"csrf": csrf_of(page)})
    assert response.status_code == 409
    assert f"Not replayed: execution {execution_id} is running now" in response.text
    assert tuple(await db.fetchrow("SELECT status, attempts FROM workflow_executions")) == (
        "running",
        1,
    )
    unknown = uuid.uuid4()
    missing = await client.post(f"/admin/executions/{unknown}/replay", data={"csrf": csrf_of(page)})
    assert missing.status_code == 404
    assert f"No execution has id {unknown}." in missing.text


# ---------------------------------------------------------------------------------------------
# Redelivery by GitHub
# ---------------------------------------------------------------------------------------------


async def test_without_a_github_app_the_redeliver_page_says_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/redeliver")
    assert response.status_code == 200
    assert "No GitHub App is configured" in response.text


async def test_missed_deliveries_are_listed_and_redelivered_on_request(
    settings: Settings, dsn: str, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    guids = await miss(fake_github, 2)
    configured = with_github(with_admin(settings), fake_github)
    async with (
        running_hookwise(configured, dsn) as admin,
        httpx.AsyncClient(base_url=admin.url) as client,
    ):
        await log_in(client)
        fake_github.hook_url = f"{admin.url}/webhooks/github"
        page = await client.get("/admin/redeliver", params={"since": "1h"})
        assert page.status_code == 200, page.text
        assert all(guid in page.text for guid in guids)
        assert page.text.count(">Redeliver</button>") == 2
        first = fake_github.deliveries[0]
        response = await client.post(
            f"/admin/redeliver/{first.id}", data={"csrf": csrf_of(page.text), "since": "1h"}
        )
        assert response.status_code == 303
        assert response.headers["location"] == (
            f"/admin/redeliver?since=1h&asked={first.id}&outcome=requested"
        )
        await fake_github.settled()
        after = await client.get(response.headers["location"])
        assert f"GitHub was asked to redeliver delivery {first.id}." in after.text
        assert guids[0] not in after.text and guids[1] in after.text

        fake_github.fail("POST", r"/app/hook/deliveries/\d+/attempts", status=422)
        second = fake_github.deliveries[1]
        refused = await client.post(
            f"/admin/redeliver/{second.id}", data={"csrf": csrf_of(page.text)}
        )
        assert refused.headers["location"].endswith("outcome=refused")
        assert "GitHub refused" in (await client.get(refused.headers["location"])).text

        # An id GitHub's log does not hold (a typo, or past its 3 days) is no refusal to retry.
        unknown = max(d.id for d in fake_github.deliveries) + 1000
        missing = await client.post(
            f"/admin/redeliver/{unknown}", data={"csrf": csrf_of(page.text), "since": "1h"}
        )
        assert missing.status_code == 404
        assert f"GitHub&#39;s delivery log has no delivery {unknown}." in missing.text
    stored = await db.fetch("SELECT delivery_id FROM integration_events")
    assert [r["delivery_id"] for r in stored] == [guids[0]]
