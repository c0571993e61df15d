"""Renamed, transferred, archived and deleted repositories (issue 16, item 6): `repository`
webhooks keep the stored name and status, and a 301 from GitHub is followed once to the new name,
which is then stored, so a reconcile by the old name does not dead-letter."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.clients.github import GitHubApp
from app.clients.github_port import port
from app.context import Context
from app.handlers.github_payload import parse_time
from app.store import repositories
from app.store.repositories import Repository
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub, iso
from tests.integration.test_handlers import CHECK_RUN, OPENED, REPOSITORY_ID, deliver
from tests.integration.test_redeliver import cli, closed_url
from tests.stories.test_backfill import ALPHA, World, open_pulls, own_events, world

RENAMED = "octo-org/alpha-two"
TRANSFERRED = "new-org/alpha"
STORED = "SELECT full_name, owner, name, status::text AS status FROM repositories"


async def installation_token(fake: FakeGitHub) -> dict[str, str]:
    token, _ = fake.issue_token(INSTALLATION_ID)
    return {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}


async def test_the_fake_redirects_an_old_name_as_github_does(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.rename_repo(ALPHA, RENAMED)
    headers = await installation_token(fake_github)
    async with httpx.AsyncClient(base_url=fake_github.url, headers=headers) as http:
        read = await http.get(f"/repos/{ALPHA}/commits/main", params={"per_page": "1"})
        assert read.status_code == 301
        moved = f"{fake_github.url}/repositories/{repo['id']}/commits/main?per_page=1"
        assert read.headers["location"] == moved
        assert read.json()["message"] == "Moved Permanently"
        assert read.json()["url"] == moved
        # A write is 307: repeat it as it was at the new place.
        write = await http.post(f"/repos/{ALPHA}/check-runs", json={"name": "x", "head_sha": "0"})
        assert write.status_code == 307
        assert write.headers["location"].endswith(f"/repositories/{repo['id']}/check-runs")
        by_id = await http.get(f"/repositories/{repo['id']}")
        assert by_id.status_code == 200 and by_id.json()["full_name"] == RENAMED
        # Gone for good: not found, by either name.
        fake_github.delete_repo(RENAMED)
        assert (await http.get(f"/repos/{ALPHA}")).status_code == 404
        assert (await http.get(f"/repos/{RENAMED}")).status_code == 404


@pytest.fixture
async def github_app(settings, fake_github: FakeGitHub) -> AsyncIterator[GitHubApp]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield GitHubApp(
            with_github(settings, fake_github, HOOKWISE_GITHUB_WRITE_INTERVAL=0.0).github, http
        )


async def test_a_301_is_followed_once_and_the_new_name_reported(
    github_app: GitHubApp, fake_github: FakeGitHub
) -> None:
    repo = fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.rename_repo(ALPHA, RENAMED)
    heard: list[tuple[int, str, str | None]] = []

    async def moved(github_id: int, answer: Mapping[str, Any]) -> None:
        heard.append((github_id, answer["full_name"], answer["html_url"]))

    github_app.on_moved = moved
    api = await github_app.installation_api(INSTALLATION_ID)
    tip = await port(api, ALPHA).tip("main")
    assert tip["sha"] == fake_github.tip(RENAMED)
    made = await port(api, ALPHA).create_check_run({"name": "lint", "head_sha": tip["sha"]})
    assert fake_github.check_runs[int(made)].repo.full_name == RENAMED
    assert heard == [(repo["id"], RENAMED, f"{fake_github.url}/{RENAMED}")] * 2
    paths = [r.path for r in fake_github.requests if r.path.startswith(("/repos", "/repositor"))]
    assert paths == [
        f"/repos/{ALPHA}/commits/main",
        f"/repositories/{repo['id']}/commits/main",
        f"/repositories/{repo['id']}",
        f"/repos/{ALPHA}/check-runs",
        f"/repositories/{repo['id']}/check-runs",
        f"/repositories/{repo['id']}",
    ]


async def test_a_reconcile_by_the_old_name_follows_and_stores_the_new_one(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 2)
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        fake_github.rename_repo(ALPHA, RENAMED)  # and no webhook reaches hookwise
        code, _, err = await cli("reconcile", "--repo", ALPHA, dsn=dsn, fake=fake_github)
        assert code == 0, err
        await w.settle()
    row = await db.fetchrow(STORED)
    assert tuple(row) == (RENAMED, "octo-org", "alpha-two", "active")
    assert await db.fetchval("SELECT url FROM repositories") == f"{fake_github.url}/{RENAMED}"
    assert await db.fetchval("SELECT failure_count FROM repositories") == 0
    assert [(r["event_type"], r["status"]) for r in await own_events(db)] == [
        ("hookwise.backfill", "completed"),
        ("hookwise.reconcile", "completed"),
    ]


async def test_a_move_takes_the_new_url_from_the_repository_that_had_it(
    db: asyncpg.Connection,
) -> None:
    # Beta was deleted, and alpha renamed to its name, with neither webhook received.
    await db.execute(
        "INSERT INTO repositories (github_id, full_name, url) VALUES"
        " (1, 'octo-org/alpha', 'https://github.com/octo-org/alpha'),"
        " (2, 'octo-org/beta', 'https://github.com/octo-org/beta')"
    )
    url = "https://github.com/octo-org/beta"
    moved = Repository(github_id=1, full_name="octo-org/beta", url=url)
    assert await repositories.moved(db, moved)
    rows = await db.fetch("SELECT github_id, full_name, url FROM repositories ORDER BY github_id")
    assert [tuple(r) for r in rows] == [(1, "octo-org/beta", url), (2, "octo-org/beta", None)]
    assert not await repositories.moved(db, moved)  # nothing left to change


def repository_event(fake: FakeGitHub, name: str, action: str, **more: Any) -> dict[str, Any]:
    return {
        "action": action,
        "repository": fake.repo_json(fake.repo(name), full=False),
        "installation": {"id": INSTALLATION_ID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
        **more,
    }


async def test_repository_events_keep_its_name_and_status(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        fake_github.rename_repo(ALPHA, RENAMED)
        changes = {"repository": {"name": {"from": "alpha"}}}
        await w.deliver(
            "repository", repository_event(fake_github, RENAMED, "renamed", changes=changes)
        )
        assert tuple(await db.fetchrow(STORED)) == (RENAMED, "octo-org", "alpha-two", "active")

        fake_github.rename_repo(RENAMED, TRANSFERRED)
        owner = {"from": {"user": {"login": "octo-org", "id": 2, "type": "Organization"}}}
        event = repository_event(fake_github, TRANSFERRED, "transferred", changes={"owner": owner})
        await w.deliver("repository", event)
        assert tuple(await db.fetchrow(STORED)) == (TRANSFERRED, "new-org", "alpha", "active")
        url = await db.fetchval("SELECT url FROM repositories")
        assert url == f"{fake_github.url}/{TRANSFERRED}"

        fake_github.archive_repo(TRANSFERRED)
        await w.deliver("repository", repository_event(fake_github, TRANSFERRED, "archived"))
        assert (await db.fetchrow(STORED))["status"] == "archived"
        fake_github.archive_repo(TRANSFERRED, archived=False)
        await w.deliver("repository", repository_event(fake_github, TRANSFERRED, "unarchived"))
        assert (await db.fetchrow(STORED))["status"] == "active"

        event = repository_event(fake_github, TRANSFERRED, "deleted")
        fake_github.delete_repo(TRANSFERRED)
        await w.deliver("repository", event)
        row = await db.fetchrow("SELECT status::text, removed_at FROM repositories")
        assert row["status"] == "removed" and row["removed_at"] is not None
        statuses = await db.fetch(
            "SELECT status FROM integration_events WHERE event_type = 'repository'"
        )
        assert [r["status"] for r in statuses] == ["completed"] * 5


# --- a replayed or late event keeps the name the repository has now -------------------------------
#
# `deliver` runs the real handlers in one transaction with the arrival given, as the worker does
# with integration_events.arrival: a replay keeps its event's own, earlier arrival.

NAMES = "SELECT full_name, owner, name, url FROM repositories WHERE github_id = $1"
OLD = OPENED["repository"]["full_name"]
NEW = "Codertocat/Hello-Again"
MOVED_TO = "Octo-Org/Hello-World"


def named(payload: dict[str, Any], full_name: str, **repo: Any) -> dict[str, Any]:
    """`payload` with its repository under another owner/name (and more fields changed)."""
    changed = copy.deepcopy(payload)
    owner, name = full_name.split("/")
    repository = changed["repository"]
    repository.update(full_name=full_name, name=name, html_url=f"https://github.com/{full_name}")
    repository["owner"]["login"] = owner
    repository.update(repo)
    return changed


# GitHub's updated_at of the repository once renamed: later than that of every fixture payload
# of it, all made before (a change moves it on: app/store/repositories.py).
RENAMED_AT = "2019-05-15T16:00:00Z"


def later(moment: str, seconds: int) -> str:
    """A GitHub timestamp `seconds` after `moment`."""
    return iso(parse_time(moment) + timedelta(seconds=seconds))  # type: ignore[operator]


def renamed(full_name: str, *, at: str = RENAMED_AT) -> dict[str, Any]:
    """GitHub's `repository` `renamed` of the fixtures' repository, to `full_name`, made `at`."""
    changes = {"repository": {"name": {"from": OLD.split("/")[1]}}}
    renaming = named(OPENED, full_name, updated_at=at)
    return renaming | {"action": "renamed", "changes": changes}


def transferred(full_name: str) -> dict[str, Any]:
    owner = {"from": {"user": {"login": OLD.split("/")[0], "id": 1, "type": "User"}}}
    moving = named(OPENED, full_name, updated_at=RENAMED_AT)
    return moving | {"action": "transferred", "changes": {"owner": owner}}


def stored_as(full_name: str) -> tuple[str, str, str, str]:
    owner, name = full_name.split("/")
    return (full_name, owner, name, f"https://github.com/{full_name}")


async def test_a_replayed_pull_request_event_keeps_the_new_name(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(OLD)
    await deliver(conn, app, "repository", renamed(NEW), arrival=2)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)

    await deliver(conn, app, "pull_request", OPENED, arrival=1)  # the replay
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    # So a reconcile or `run --pr` by name finds it under its name, and under its old one none.
    assert [r.github_id for r in await repositories.by_full_name(conn, NEW)] == [REPOSITORY_ID]
    assert await repositories.by_full_name(conn, OLD) == []


async def test_a_deletion_handled_after_a_later_event_still_removes_the_repository(
    conn: asyncpg.Connection, app: Context
) -> None:
    # The deletion waited for its retry while a pull request event that arrived after it (one
    # made before the deletion, with the repository's same updated_at) went ahead. GitHub never
    # reuses a repository's id: a deletion is final, whenever it is handled.
    deleted = named(OPENED, OLD) | {"action": "deleted"}
    await deliver(conn, app, "pull_request", OPENED, arrival=2)
    await deliver(conn, app, "repository", deleted, arrival=1)
    status = "SELECT status::text FROM repositories WHERE github_id = $1"
    assert await conn.fetchval(status, REPOSITORY_ID) == "removed"


async def test_a_replayed_check_run_event_keeps_the_new_name(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=1)
    await deliver(conn, app, "repository", renamed(NEW), arrival=2)
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    # The run itself was stored, and is still there.
    assert await conn.fetchval("SELECT count(*) FROM check_runs") == 1


async def test_a_replayed_event_keeps_a_transferred_repository_with_its_new_owner(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=2)
    await deliver(conn, app, "repository", transferred(MOVED_TO), arrival=3)
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=2)
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(MOVED_TO)


async def test_an_event_handled_late_does_not_rename_back_but_a_later_one_renames(
    conn: asyncpg.Connection, app: Context
) -> None:
    # Arrived before the rename, handled after it (another pull request's events held it back).
    await deliver(conn, app, "repository", renamed(NEW), arrival=2)
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    # What an older payload says of the rest still counts, as before.
    assert await conn.fetchval("SELECT count(*) FROM pull_requests") == 1
    # Renamed back on GitHub, later: that applies.
    await deliver(conn, app, "repository", renamed(OLD, at=later(RENAMED_AT, 60)), arrival=3)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(OLD)


async def test_a_replay_leaves_the_old_url_to_the_repository_that_took_the_name(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    await deliver(conn, app, "repository", renamed(NEW), arrival=2)
    # Made private since: the old payload says otherwise, so its replay refreshes the row.
    privatized = named(OPENED, NEW, private=True, updated_at=later(RENAMED_AT, 60))
    privatized |= {"action": "privatized"}
    await deliver(conn, app, "repository", privatized, arrival=3)
    # Another repository now has the old name, and its URL.
    other = named(OPENED, OLD, id=REPOSITORY_ID + 1)
    await deliver(conn, app, "repository", other | {"action": "created"}, arrival=4)
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID + 1)) == stored_as(OLD)
    assert [r.github_id for r in await repositories.by_full_name(conn, OLD)] == [REPOSITORY_ID + 1]


async def test_an_installation_event_replayed_after_a_rename_keeps_the_new_name(
    conn: asyncpg.Connection, app: Context
) -> None:
    listed = {k: OPENED["repository"][k] for k in ("id", "node_id", "name", "full_name", "private")}
    added = {
        "action": "added",
        "installation": {"id": 1, "account": {"login": "Codertocat", "id": 21031067}},
        "repository_selection": "selected",
        "repositories_added": [listed],
        "repositories_removed": [],
    }
    await deliver(conn, app, "installation_repositories", added, arrival=1)
    await deliver(conn, app, "repository", renamed(NEW), arrival=2)
    await deliver(conn, app, "installation_repositories", added, arrival=1)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)


async def test_a_rename_learnt_from_a_redirect_is_not_undone_by_an_event_stored_before(
    conn: asyncpg.Connection, app: Context
) -> None:
    # Arrivals as the store hands them out (integration_events.arrival's sequence).
    async def stored() -> int:
        arrival: int = await conn.fetchval("SELECT nextval('integration_events_arrival_seq')")
        return arrival

    before = await stored()
    await deliver(conn, app, "pull_request", OPENED, arrival=before)
    queued = await stored()  # stored before the redirect, handled after it
    url = f"https://github.com/{NEW}"
    # GitHub's answer about it, made after the rename.
    answer = Repository(REPOSITORY_ID, NEW, url=url, updated_at=parse_time(RENAMED_AT))
    assert await repositories.moved(conn, answer)
    await deliver(conn, app, "pull_request", OPENED, arrival=before)
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=queued)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    # An event stored after it is newer: renamed again since, it says so.
    again = renamed(MOVED_TO, at=later(RENAMED_AT, 60))
    await deliver(conn, app, "repository", again, arrival=await stored())
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(MOVED_TO)


async def test_a_redirect_stores_what_github_answers_unless_a_stored_payload_is_newer(
    conn: asyncpg.Connection, app: Context
) -> None:
    url = f"https://github.com/{NEW}"
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    # GitHub's answer, made after a rename and a change of visibility: all of it is stored, and
    # a payload GitHub made before it (handled after, arrived after) changes nothing.
    answer = Repository(
        REPOSITORY_ID, NEW, url=url, private=True, updated_at=parse_time(RENAMED_AT)
    )
    assert await repositories.moved(conn, answer)
    await deliver(conn, app, "check_run", CHECK_RUN, arrival=10**9)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    assert await conn.fetchval(PRIVATE, REPOSITORY_ID) is True
    # Renamed again and made public since, as a payload stored says: an answer read from
    # somewhere behind it (older by GitHub's time) does not undo that.
    again = renamed(MOVED_TO, at=later(RENAMED_AT, 60))
    await deliver(conn, app, "repository", again, arrival=10**9 + 1)
    assert not await repositories.moved(conn, answer)
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(MOVED_TO)
    assert await conn.fetchval(PRIVATE, REPOSITORY_ID) is False


PRIVATE = "SELECT private FROM repositories WHERE github_id = $1"


HANDLED_AT = """
SELECT processed_at FROM integration_events
WHERE event_type = 'pull_request' AND status = 'completed'
"""


async def test_hookwise_replay_after_a_rename_keeps_the_new_name(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    # The tester's case, end to end: webhooks through the server, the operator's replay.
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.commit_files(ALPHA, "pr-1", {"f.txt": "1\n"})
    pull = fake_github.add_pull(ALPHA, 1, head_branch="pr-1", title="PR 1")
    opened = {
        "action": "opened",
        "number": 1,
        "pull_request": pull,
        "repository": fake_github.repo_json(fake_github.repo(ALPHA)),
        "installation": {"id": INSTALLATION_ID},
        "sender": pull["user"],
    }
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        await w.deliver("pull_request", opened)
        fake_github.rename_repo(ALPHA, RENAMED)
        changes = {"repository": {"name": {"from": "alpha"}}}
        await w.deliver(
            "repository", repository_event(fake_github, RENAMED, "renamed", changes=changes)
        )
        handled = await db.fetchval(HANDLED_AT)
        code, _, err = await cli("replay", "--event", "pull_request", dsn=dsn, fake=fake_github)
        assert code == 0, err
        await w.settle()
        # Handled again.
        assert await db.fetchval(HANDLED_AT) > handled
    row = await db.fetchrow(STORED)
    assert tuple(row) == (RENAMED, "octo-org", "alpha-two", "active")
    assert await db.fetchval("SELECT url FROM repositories") == f"{fake_github.url}/{RENAMED}"


# --- a delivery GitHub hands over late changes nothing it was made before -----------------------
#
# End to end: webhooks signed and posted by the fake GitHub to a running hookwise, handled by the
# worker. A pull_request delivery fails (nothing listens), the repository changes on GitHub and
# its news arrives, then `hookwise redeliver` has GitHub send the failed one again: its original
# body, made before the change, arrives last. The fake moves a repository's updated_at on with
# every change, as GitHub does (tests/fakes/github_repos.py, changed()).

ATTRIBUTES = """
SELECT full_name, owner, name, url, private, default_branch, fork, installation_id,
       status::text AS status
FROM repositories WHERE github_id = $1
"""
OTHER_INSTALLATION = 7654322
UPSTREAM = "upstream/lib"
FORKED = "octo-org/lib"


def pull_request_event(
    fake: FakeGitHub, name: str, pull: dict[str, Any], action: str, installation: int
) -> dict[str, Any]:
    """A pull_request webhook of `pull` as GitHub makes it now."""
    return {
        "action": action,
        "number": pull["number"],
        "pull_request": pull,
        "repository": fake.repo_json(fake.repo(name), full=False),
        "installation": {"id": installation},
        "sender": pull["user"],
    }


def change_event(fake: FakeGitHub, name: str, installation: int, action: str) -> dict[str, Any]:
    event = repository_event(fake, name, action)
    event["installation"] = {"id": installation}
    return event


def renaming(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    fake.rename_repo(ALPHA, RENAMED)
    changes = {"repository": {"name": {"from": "alpha"}}}
    event = change_event(fake, RENAMED, INSTALLATION_ID, "renamed") | {"changes": changes}
    return RENAMED, "repository", event


def making_private(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    fake.edit_repo(ALPHA, private=True)
    return ALPHA, "repository", change_event(fake, ALPHA, INSTALLATION_ID, "privatized")


def changing_the_default_branch(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    fake.commit_files(ALPHA, "develop", {"d.txt": "d\n"})
    fake.edit_repo(ALPHA, default_branch="develop")
    changes = {"default_branch": {"from": "main"}}
    event = change_event(fake, ALPHA, INSTALLATION_ID, "edited") | {"changes": changes}
    return ALPHA, "repository", event


def leaving_the_fork_network(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    # GitHub sends no `repository` event for it: the next event of the repository says so.
    fake.edit_repo(FORKED, leave_fork_network=True)
    pull = fake.pull_json(fake.repo(FORKED).pulls[1])
    return FORKED, "pull_request", pull_request_event(fake, FORKED, pull, "edited", INSTALLATION_ID)


def transferring(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    # To an organization where the App has another installation.
    fake.add_installation(OTHER_INSTALLATION, account_login="new-org")
    fake.rename_repo(ALPHA, TRANSFERRED, installation_id=OTHER_INSTALLATION)
    owner = {"from": {"user": {"login": "octo-org", "id": 2, "type": "Organization"}}}
    event = change_event(fake, TRANSFERRED, OTHER_INSTALLATION, "transferred")
    return TRANSFERRED, "repository", event | {"changes": {"owner": owner}}


def unarchiving(fake: FakeGitHub) -> tuple[str, str, dict[str, Any]]:
    fake.archive_repo(ALPHA, archived=False)
    return ALPHA, "repository", change_event(fake, ALPHA, INSTALLATION_ID, "unarchived")


CHANGES = {
    "renamed": renaming,
    "made private": making_private,
    "default branch changed": changing_the_default_branch,
    "left its fork network": leaving_the_fork_network,
    "transferred to another installation": transferring,
}


async def missed(fake: FakeGitHub, event: str, payload: dict[str, Any]) -> str:
    """GitHub tries to deliver `payload` while nothing listens; its delivery GUID."""
    listening = fake.hook_url
    fake.hook_url = closed_url()
    delivery = await fake.deliver(event, payload)
    fake.hook_url = listening
    assert delivery.status_code == 0
    return delivery.guid


async def redelivered(
    w: World, fake: FakeGitHub, dsn: str, db: asyncpg.Connection, guid: str
) -> None:
    """`hookwise redeliver` has GitHub send the failed delivery `guid` again; handled."""
    code, out, err = await cli("redeliver", "--since", "1h", dsn=dsn, fake=fake)
    assert code == 0, err
    assert guid in out
    await fake.settled()
    await w.settle()
    status = "SELECT status FROM integration_events WHERE delivery_id = $1"
    assert await db.fetchval(status, guid) == "completed"


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
async def test_a_late_redelivery_made_before_a_change_does_not_undo_it(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub, change: Any
) -> None:
    fake = fake_github
    if change is leaving_the_fork_network:
        fake.add_repo(UPSTREAM, installation_id=INSTALLATION_ID)
        fake.fork_repo(UPSTREAM, owner="octo-org")
        fake.repo(FORKED).installation_id = INSTALLATION_ID
        name = FORKED
    else:
        fake.add_repo(ALPHA, installation_id=INSTALLATION_ID)
        name = ALPHA
    github_id = fake.repo(name).id
    fake.commit_files(name, "pr-1", {"f.txt": "1\n"})
    pull = fake.add_pull(name, 1, head_branch="pr-1", title="PR 1")
    async with world(settings, dsn, fake) as w:
        await w.install(name)
        await w.deliver(
            "pull_request", pull_request_event(fake, name, pull, "opened", INSTALLATION_ID)
        )
        before = dict(await db.fetchrow(ATTRIBUTES, github_id))
        # Made now, before the change; GitHub cannot hand it over.
        late = pull_request_event(fake, name, pull, "labeled", INSTALLATION_ID)
        guid = await missed(fake, "pull_request", late)

        now_named, event, news = change(fake)
        await w.deliver(event, news)
        changed = dict(await db.fetchrow(ATTRIBUTES, github_id))
        assert changed != before
        assert changed["full_name"] == now_named

        await redelivered(w, fake, dsn, db, guid)
    assert dict(await db.fetchrow(ATTRIBUTES, github_id)) == changed
    # The late delivery's own news still counts: the pull request is stored, labeled.
    trigger = "SELECT last_trigger::text FROM pull_requests WHERE github_id = $1"
    assert await db.fetchval(trigger, pull["id"]) == "labeled"


async def test_a_late_archived_does_not_archive_a_repository_unarchived_since(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    fake = fake_github
    fake.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    github_id = fake.repo(ALPHA).id
    async with world(settings, dsn, fake) as w:
        await w.install(ALPHA)
        fake.archive_repo(ALPHA)
        archived = change_event(fake, ALPHA, INSTALLATION_ID, "archived")
        guid = await missed(fake, "repository", archived)
        _, event, news = unarchiving(fake)
        await w.deliver(event, news)
        assert (await db.fetchrow(ATTRIBUTES, github_id))["status"] == "active"

        await redelivered(w, fake, dsn, db, guid)
    assert (await db.fetchrow(ATTRIBUTES, github_id))["status"] == "active"
