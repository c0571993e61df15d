"""Any batch takes the repository rows its handlers will lock in one global order (GitHub id),
each at least as strongly as they will: the property that keeps two batches, or a batch and a
backfill or an installation event, from waiting on each other (app/handlers/github_payload.py).

The batches are generated: pull request, check run and `repository` events, backfills and
reconciles, installation events listing repositories or changing all of theirs, with payloads
of one repository that agree or differ. The prelude runs on the real database, through a
connection that notes which repository row each of its statements takes, and how, and which
repository keys it holds first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.handlers.github_payload import take_shared
from app.router import EventRow
from app.store import repositories, repository_keys
from tests.pg import TRUNCATE

STRENGTH = {name: level for level, name in enumerate(repositories.STRENGTHS)}
REPOSITORIES = (601, 602, 603, 604)
# Installation 701's repositories as stored before each batch; 604 is not stored.
STORED = (601, 602, 603)


class Noting:
    """A real connection that notes (GitHub id, strength) for each repository row a statement
    takes: a hold or lock FOR a strength, a refresh (upsert) FOR UPDATE; which rows were only
    locked (no payload refreshes them there: a handler may create them later); and each
    repository's advisory key (exclusive or not) with how many rows had been taken before."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.taken: list[tuple[int, str]] = []
        self.only_locked: set[int] = set()
        self.keys: dict[int, tuple[bool, int]] = {}

    def _note(self, query: str, args: tuple[Any, ...]) -> None:
        for strength in repositories.STRENGTHS:
            if query in (repositories.HOLD_AS[strength], repositories.LOCK_AS[strength]):
                self.taken.append((int(args[0]), strength))
            if query == repositories.LOCK_AS[strength]:
                self.only_locked.add(int(args[0]))
        if query == repositories.UPSERT:
            self.taken.append((int(args[0]), "UPDATE"))
        if query == repository_keys.TAKE:
            for kind, github_id in zip(*args, strict=True):
                if kind != repository_keys.INSTALLATION:
                    exclusive = kind == repository_keys.EXCLUSIVE
                    self.keys[github_id] = (exclusive, len(self.taken))

    async def execute(self, query: str, *args: Any) -> str:
        self._note(query, args)
        result: str = await self.conn.execute(query, *args)
        return result

    async def fetchval(self, query: str, *args: Any) -> Any:
        self._note(query, args)
        return await self.conn.fetchval(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self._note(query, args)
        found: list[asyncpg.Record] = await self.conn.fetch(query, *args)
        return found


def repository(github_id: int, branch: str) -> dict[str, Any]:
    return {
        "id": github_id,
        "name": f"repo{github_id}",
        "full_name": f"octo/repo{github_id}",
        "owner": {"login": "octo"},
        "default_branch": branch,
        "html_url": f"https://github.com/octo/repo{github_id}",
    }


def listed(github_ids: list[int]) -> list[dict[str, Any]]:
    return [{"id": i, "full_name": f"octo/repo{i}", "name": f"repo{i}"} for i in github_ids]


# (event type, action, payload, what its handlers need: {github id: strength}); None: all of
# the installation's stored repositories, NO KEY UPDATE.
Event = tuple[str, str | None, dict[str, Any], dict[int, str] | None]

ids = st.sampled_from(REPOSITORIES)
branches = st.sampled_from(["main", "dev"])


@st.composite
def events(draw: st.DrawFn) -> Event:
    kind = draw(
        st.sampled_from(["pull_request", "check_run", "repository", "look", "installation"])
    )
    installation = {"id": 701}
    if kind in ("pull_request", "check_run", "repository"):
        github_id = draw(ids)
        payload = {
            "repository": repository(github_id, draw(branches)),
            "installation": installation,
        }
        if kind == "repository":
            return ("repository", "archived", payload, {github_id: "NO KEY UPDATE"})
        return (kind, "opened", payload, {github_id: "KEY SHARE"})
    if kind == "look":
        github_id = draw(ids)
        event = draw(st.sampled_from(["hookwise.backfill", "hookwise.reconcile"]))
        payload = {"repository": {"id": github_id}, "installation": installation}
        return (event, None, payload, {github_id: "UPDATE"})
    event, action = draw(
        st.sampled_from(
            [
                ("installation", "created"),
                ("installation", "deleted"),
                ("installation", "unsuspend"),
                ("installation", "suspend"),
                ("installation_repositories", "added"),
                ("installation_repositories", "removed"),
            ]
        )
    )
    named = draw(st.lists(ids, unique=True, max_size=3))
    field = {
        "created": "repositories",
        "deleted": "repositories",
        "added": "repositories_added",
        "removed": "repositories_removed",
    }.get(action)
    payload = {"installation": installation, "action": action}
    if field is not None:
        payload[field] = listed(named)
    if action in ("deleted", "unsuspend"):
        return (event, action, payload, None)
    return (event, action, payload, dict.fromkeys(named if field else [], "NO KEY UPDATE"))


def needed(batch: list[Event]) -> dict[int, str]:
    """What the batch's handlers lock, by GitHub id, at the strongest."""
    need: dict[int, str] = {}
    seen: dict[int, Any] = {}

    def add(github_id: int, strength: str) -> None:
        if STRENGTH[strength] >= STRENGTH.get(need.get(github_id, "KEY SHARE"), 0):
            need[github_id] = strength

    for _, _, payload, wants in batch:
        if wants is None:
            wants = dict.fromkeys(STORED, "NO KEY UPDATE")
        for github_id, strength in wants.items():
            add(github_id, strength)
        repo = payload.get("repository") or {}
        # A second, differing payload of one repository: its handler refreshes the row.
        if "full_name" in repo and seen.setdefault(repo["id"], repo) != repo:
            add(repo["id"], "UPDATE")
    return need


def row(event: str, action: str | None, arrival: int) -> EventRow:
    return EventRow(
        id=uuid.uuid4(),
        source="github",
        event_type=event,
        action=action,
        delivery_id=str(uuid.uuid4()),
        hook_id="1",
        attempts=1,
        received_at=datetime.now(UTC),
        arrival=arrival,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(events(), min_size=1, max_size=6))
async def test_a_batch_takes_its_repositories_in_id_order_as_strongly_as_its_handlers_will(
    conn: asyncpg.Connection, batch: list[Event]
) -> None:
    await conn.execute(TRUNCATE)
    await conn.execute("INSERT INTO installations (id) VALUES (701)")
    for github_id in STORED:
        await repositories.refresh(conn, repositories.Repository(**_stored(github_id)))
    noting = Noting(conn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await take_shared(noting, [(row(e, a, n), p) for n, (e, a, p, _) in enumerate(batch)])  # type: ignore[arg-type]
    finally:
        await transaction.rollback()
    taken = [github_id for github_id, _ in noting.taken]
    # One global order: ascending GitHub ids, each row once (a refresh after its hold is the
    # same row taken more strongly, at its place in the order).
    assert taken == sorted(taken)
    strongest: dict[int, str] = {}
    for github_id, strength in noting.taken:
        if STRENGTH[strength] >= STRENGTH.get(strongest.get(github_id, "KEY SHARE"), 0):
            strongest[github_id] = strength
    # Every row's key before any row, exclusive for a row a handler may create or rewrite
    # later (take_shared: the keys leave no cycle for such a late write to close).
    for github_id, _ in noting.taken:
        assert noting.keys.get(github_id, (False, 1))[1] == 0, (github_id, noting.keys)
    for github_id in noting.only_locked:
        assert noting.keys[github_id][0], (github_id, noting.keys)
    for github_id, strength in needed(batch).items():
        assert github_id in strongest, (github_id, noting.taken)
        assert STRENGTH[strongest[github_id]] >= STRENGTH[strength], (
            github_id,
            strength,
            noting.taken,
        )


def _stored(github_id: int) -> dict[str, Any]:
    return {
        "github_id": github_id,
        "full_name": f"octo/repo{github_id}",
        "name": f"repo{github_id}",
        "owner": "octo",
        "installation_id": 701,
        "default_branch": "main",
        "url": f"https://github.com/octo/repo{github_id}",
    }


async def test_an_id_out_of_range_in_a_membership_list_leaves_the_others_their_keys(
    conn: asyncpg.Connection, dsn: str
) -> None:
    # The handler fails on the id a bigint cannot hold, but it may write the repositories
    # listed around it first: late, so under their keys, exclusively (take_shared).
    await conn.execute(TRUNCATE)
    await conn.execute("INSERT INTO installations (id) VALUES (701)")
    listed = [
        {"id": 2**64, "name": "huge", "full_name": "octo/huge", "private": False},
        {"id": 601, "name": "repo1", "full_name": "octo/repo1", "private": False},
    ]
    payload = {"action": "added", "installation": {"id": 701}, "repositories_added": listed}
    other = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await take_shared(conn, [(row("installation_repositories", "added", 0), payload)])
            busy = await repository_keys.try_take(other, [601])
    finally:
        await other.close()
    assert busy == [601]
