"""What the GitHub handlers read alike from a payload: timestamps, its installation and its
repository (created on first sight, with a bare installation row when needed).

Events of different pull requests share their installation's and their repository's rows, and a
batch runs several such events in one transaction: written in the events' order, two batches at
once would take those rows in opposite orders and deadlock (a first sight, a refresh, and the
key-share lock each new pull request or check run takes on its repository). So take_shared()
runs first in each batch (app/router.py's prelude) and takes them in one global order: an
advisory key per repository (app/store/repository_keys.py) in GitHub id order, then the bare
installation rows in id order, then each repository's row in GitHub id order, refreshed or held
as strongly as the batch's handlers will (a lock strengthened later is a deadlock between two
holders of the weaker one); the handlers after it find them current. take_shared's docstring
says why that leaves no cycle, whoever else touches these rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from app.router import BatchEvents, EventRow
from app.store import installations, repositories, repository_keys
from app.store.repositories import Repository


def parse_time(value: Any) -> datetime | None:
    """A GitHub timestamp: ISO 8601 text mostly, epoch seconds in older installation payloads."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(value)
    # A timestamp without an offset is UTC on GitHub; asyncpg would read it as local time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    return None if installation is None else int(installation["id"])


def repository_from_payload(
    payload: Mapping[str, Any], *, arrival: int | None = None
) -> Repository:
    """The full repository object of PR, check-run and most other events (and of GitHub's REST
    answers, given as {"repository": answer}); `arrival` is its event's
    integration_events.arrival (None: older than any). Raises KeyError, TypeError or ValueError
    (an updated_at that is no timestamp) for a payload without a readable one."""
    repo = payload["repository"]
    owner = repo.get("owner") or {}
    return Repository(
        github_id=repo["id"],
        full_name=repo["full_name"],
        name=repo.get("name"),
        owner=owner.get("login"),
        installation_id=installation_id(payload),
        default_branch=repo.get("default_branch"),
        private=repo.get("private"),
        fork=repo.get("fork"),
        url=repo.get("html_url"),
        arrival=arrival,
        # GitHub's time of the repository's change: which payload is newer (app/store/repositories).
        updated_at=parse_time(repo.get("updated_at")),
    )


async def ensure_repository(
    conn: asyncpg.Connection, payload: Mapping[str, Any], *, arrival: int | None
) -> UUID:
    """repositories.id of the payload's repository, creating it (and a bare installation);
    `arrival` is the event's (repository_from_payload)."""
    repository = repository_from_payload(payload, arrival=arrival)
    # Every PR and check-run event passes here: one read when nothing changed (the row's
    # installation_id is a foreign key, so a row naming the payload's installation means the
    # installation's row is there too).
    stored = await repositories.current(conn, repository)
    if stored is not None:
        return stored
    return await store_repository(conn, repository)


async def store_repository(conn: asyncpg.Connection, repository: Repository) -> UUID:
    """repositories.id of `repository` once inserted or refreshed, its installation's bare row
    first when there is none; for a caller that found its row not current (no read first)."""
    if repository.installation_id is not None:
        await installations.ensure(conn, repository.installation_id)
    return await repositories.refresh(conn, repository)


async def record_stored(
    conn: asyncpg.Connection,
    repository: Repository,
    record: Callable[[Repository], Awaitable[Answer | None]],
) -> Answer:
    """`record(repository)`'s answer; when None (first sight of the repository, or the payload
    says more of it than its row), the repository is stored and `record` asked again, its URL
    left out: while another transaction holds the row (or key) of a repository still holding
    that URL, the refresh stores none (repositories.RELEASE_URL). Raises RuntimeError when the
    stored row still does not match."""
    recorded = await record(repository)
    if recorded is None:
        await store_repository(conn, repository)
        recorded = await record(replace(repository, url=None))
        if recorded is None:
            raise RuntimeError(f"repository {repository.full_name} not current once stored")
    return recorded


# The events whose handlers store their payload's repository (store_repository,
# ensure_repository), and those that store their installation (installations.record).
STORE_REPOSITORY = frozenset({"pull_request", "check_run", "repository"})
STORE_INSTALLATION = STORE_REPOSITORY | {"installation", "installation_repositories"}
# hookwise's own looks at a repository (app/reconcile.py): they write its pull requests and
# check runs in GitHub's listing order, so they hold its row exclusively first.
LOOKS = frozenset({"hookwise.backfill", "hookwise.reconcile"})
# Installation events naming repositories they add or remove, by these payload fields.
MEMBERSHIP = frozenset({"installation", "installation_repositories"})
LISTS = ("repositories", "repositories_added", "repositories_removed")
# Installation events that change every repository of their installation (removed, or
# reactivated for a look).
WHOLE = frozenset(
    {("installation", "deleted"), ("installation", "unsuspend"),
     ("installation", "new_permissions_accepted")}
)  # fmt: skip
KEY_SHARE, NO_KEY_UPDATE, UPDATE = range(3)


def varied_repositories(events: Sequence[tuple[EventRow, Mapping[str, Any]]]) -> frozenset[int]:
    """GitHub ids of the repositories that two of a batch's payloads describe differently.
    Each of their events' handlers refreshes the row to what its own payload says, so they must
    run in the batch's order, the last one's standing: a batch step (app/router.py), which runs
    every event's first statement before any handler, leaves these events to their handlers."""
    seen: dict[int, Repository] = {}
    varied: set[int] = set()
    for row, payload in events:
        if row.source != "github" or row.event_type not in STORE_REPOSITORY:
            continue
        try:
            # Payloads saying the same are the same, whenever GitHub made them and they came.
            repository = repository_from_payload(payload).said()
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        github_id = repository.github_id
        if isinstance(github_id, int) and seen.setdefault(github_id, repository) != repository:
            varied.add(github_id)
    return frozenset(varied)


# Events whose handlers write repository rows beyond what their payload describes (the
# repositories an installation lists, or all of its own; a look's pull requests and check runs;
# a repository's status): a batch step sent before such a handler would write first what,
# handled one by one, comes after it. A batch holding one runs no steps (rare: these events
# are few beside pull requests and check runs).
REWRITES = (
    frozenset(
        {"installation", "installation_repositories", "repository", "hookwise.list_repositories"}
    )
    | LOOKS
)


# Events whose handlers read pull requests beyond their own (a new Linear issue relinks the open
# ones naming it): a batch step sent before such a handler would show it what, handled one by
# one, comes after it (a pull request closed by a later event). The events after one in a
# batch are left to their handlers.
READS_PULLS = frozenset({("linear", "Issue")})


# What a handler's first statement stores: (the payload's repository, its rows...).
Item = TypeVar("Item", bound=tuple[Any, ...])
Answer = TypeVar("Answer")


async def record_steps(
    conn: asyncpg.Connection,
    events: BatchEvents,
    batch: BatchEvents,
    read: Callable[[EventRow, Mapping[str, Any]], Item],
    record_many: Callable[[asyncpg.Connection, list[Item]], Awaitable[Sequence[Answer]]],
) -> list[Answer | None]:
    """A batch step's answers (app/router.py), one per event of `events`, for handlers whose
    first statement stores what `read` finds in a payload, its repository first: what
    `record_many` answers for each, its statements sent in one round trip. None for a payload
    `read` cannot read (its handler then fails on it alone) and for one whose repository
    another payload of the batch describes differently (varied_repositories: its handler
    refreshes that row in the batch's order), and for one after an event that READS_PULLS.
    All None in a batch holding an event that REWRITES repository rows. Raises what
    `record_many` raises."""
    if any(row.source == "github" and row.event_type in REWRITES for row, _ in batch):
        return [None] * len(events)
    varied = varied_repositories(batch)
    after_reader = _after_reader(batch)
    items: list[Item] = []
    at: list[int] = []
    for index, (event, payload) in enumerate(events):
        if event.id in after_reader:
            continue
        try:
            item = read(event, payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if item[0].github_id not in varied:
            items.append(item)
            at.append(index)
    answers: list[Answer | None] = [None] * len(events)
    for index, answer in zip(at, await record_many(conn, items), strict=True):
        answers[index] = answer
    return answers


def _after_reader(batch: BatchEvents) -> frozenset[UUID]:
    """Ids of the batch's events that come after its first event that READS_PULLS."""
    for index, (row, _) in enumerate(batch):
        if (row.source, row.event_type) in READS_PULLS:
            return frozenset(later.id for later, _ in batch[index + 1 :])
    return frozenset()


def _bigint(value: Any) -> int:
    """A GitHub id as the store keeps it; ValueError when a bigint cannot hold it (its event's
    handler then fails on it alone)."""
    found = int(value)
    if not -(2**63) <= found < 2**63:
        raise ValueError(f"{found} is out of range for a bigint")
    return found


@dataclass
class _Shared:
    """What a batch's payloads say of the rows its handlers will write or lock."""

    installation_ids: set[int] = field(default_factory=set)
    # Installations whose every repository an event of the batch changes.
    whole: set[int] = field(default_factory=set)
    found: dict[int, Repository] = field(default_factory=dict)
    strength: dict[int, int] = field(default_factory=dict)
    # Repositories an event that REWRITES them names, and installations whose every repository
    # one may write: their rows are left for the handlers to refresh in the batch's order.
    rewritten: set[int] = field(default_factory=set)
    rewritten_in: set[int] = field(default_factory=set)

    def need(self, github_id: int, level: int) -> None:
        self.strength[github_id] = max(self.strength.get(github_id, level), level)

    def only_locked(self, github_id: int) -> bool:
        """Whether the prelude only locks the row (a handler writes it later, perhaps first)."""
        described = self.found.get(github_id)
        return (
            described is None
            or github_id in self.rewritten
            or described.installation_id in self.rewritten_in
        )


def _shared(events: Sequence[tuple[EventRow, Mapping[str, Any]]]) -> _Shared:
    shared = _Shared()
    for row, payload in events:
        if row.source != "github":
            continue
        try:
            installation = None
            if row.event_type in STORE_INSTALLATION or row.event_type in LOOKS:
                # A look's handler creates its repository when it is not stored, and that
                # repository's bare installation row with it: here, in order, instead.
                installation = _installation_of(payload)
                if installation is not None:
                    shared.installation_ids.add(installation)
            if row.event_type in STORE_REPOSITORY:
                repository = repository_from_payload(payload, arrival=row.arrival)
                # Stored repositories need an id and a full_name: left to the handler otherwise.
                if isinstance(repository.github_id, int) and isinstance(repository.full_name, str):
                    github_id = _bigint(repository.github_id)
                    earlier = shared.found.get(github_id)
                    if earlier is not None and earlier.said() != repository.said():
                        shared.need(github_id, UPDATE)
                    elif earlier is not None:
                        # The same said again: held (or stored) as the latest of them says it,
                        # so that each of their handlers finds the row current (what they say
                        # stored with a time no earlier than theirs, or newer than any of
                        # theirs) and takes no stronger lock.
                        repository = replace(
                            repository,
                            arrival=_latest(earlier.arrival, repository.arrival),
                            updated_at=_latest(earlier.updated_at, repository.updated_at),
                        )
                    shared.found[github_id] = repository
                    shared.need(
                        github_id, NO_KEY_UPDATE if row.event_type == "repository" else KEY_SHARE
                    )
                    if row.event_type == "repository":
                        shared.rewritten.add(github_id)
            elif row.event_type in LOOKS:
                github_id = _bigint(payload["repository"]["id"])
                shared.need(github_id, UPDATE)
                shared.rewritten.add(github_id)
            elif row.event_type in MEMBERSHIP:
                for field_name in LISTS:
                    for item in payload.get(field_name) or ():
                        try:
                            github_id = _bigint(item["id"])
                        except (KeyError, TypeError, ValueError):
                            # Its handler fails on it, maybe after writing the others: they
                            # keep their keys.
                            continue
                        shared.need(github_id, NO_KEY_UPDATE)
                        shared.rewritten.add(github_id)
                if (row.event_type, row.action) in WHOLE and installation is not None:
                    shared.whole.add(installation)
                    shared.rewritten_in.add(installation)
            elif row.event_type in REWRITES and installation_id(payload) is not None:
                # hookwise's listing of an installation's repositories: which, only GitHub says
                # (its handler takes their keys itself: installations.installation_listed).
                shared.rewritten_in.add(_bigint(payload["installation"]["id"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return shared


Ordered = TypeVar("Ordered", int, datetime)


def _latest(one: Ordered | None, other: Ordered | None) -> Ordered | None:
    return max((a for a in (one, other) if a is not None), default=None)


def _installation_of(payload: Mapping[str, Any]) -> int | None:
    found = installation_id(payload)
    return None if found is None else _bigint(found)


async def _of_whole(conn: asyncpg.Connection, shared: _Shared) -> None:
    """Add the stored repositories of the installations an event changes whole (a read)."""
    if shared.whole:
        for github_id in await repositories.of_installations(conn, shared.whole):
            shared.need(github_id, NO_KEY_UPDATE)
            shared.rewritten.add(github_id)


async def take_shared(
    conn: asyncpg.Connection, events: Sequence[tuple[EventRow, Mapping[str, Any]]]
) -> None:
    """The installation and repository rows that a batch's events' handlers write or lock, in
    one global order:

    1. each repository's advisory key (repository_keys.take) in GitHub id order: exclusive for
       a repository whose row step 3 only locks, shared for one it refreshes or holds;
    2. a bare row for each installation not stored, in id order (one round trip with step 1);
    3. each repository's row in GitHub id order, refreshed when it does not say all the payload
       says, else locked as strongly as the batch's handlers will (repositories.STRENGTHS): FOR
       KEY SHARE for pull request and check run events, NO KEY UPDATE for `repository` and
       installation events, UPDATE for a backfill or reconcile, or when two payloads of one
       repository differ (the later one's is stored, and the earlier one's handler refreshes
       it again under that lock). A repository that an event of the batch which REWRITES rows
       names (or may name: all of an installation's) is only locked, FOR UPDATE: its handlers
       refresh it in the batch's order, as one by one. A payload that names no whole
       repository is left to its handler.

    Why the keys: a row only locked in step 3 may not exist yet. Its lock then locks nothing,
    and its handler creates the row later, in event order, not id order: another transaction
    creating the same row (in its own step 3) while waiting for one of ours would deadlock with
    us. So every transaction holds a repository's key before it touches the row (writes,
    creates or locks it), and holds it exclusively when it may touch the row after its step 3
    (late). While a transaction holds a key exclusively, no other holds that row or is
    creating it, so its late writes wait for no one. Every other wait on these rows is in the
    one order: keys in step 1 (the waiter holds no installation or repository row yet),
    installation rows in step 2, repository rows in step 3. No cycle is left.

    Who else touches repository rows, and how each keeps to that:
    - a batch's steps (record_steps) only read its repositories and reference rows step 3
      holds; its handlers write the rows held by step 3, or late ones held exclusively;
    - an event run alone (app/worker.py's _alone) runs this prelude too, after its serial keys;
    - a batch whose prelude failed under a savepoint (a payload the store refuses) takes every
      key exclusively and the installations (take_keys): its handlers write late, in event
      order, under keys no one else holds;
    - hookwise.list_repositories adds the repositories GitHub listed (its fetcher's answer,
      which this prelude does not see): its handler takes their keys without waiting and is
      retried when another transaction holds one;
    - an installation's deletion or reactivation updates all of its repositories, also those
      created after this prelude read them (of_installations), whose keys it does not hold: in
      one statement, in GitHub id order. A holder of such a row waits for nothing this batch
      holds: no key (it took them all before any row), no repository row of ours (held under
      our exclusive keys, or taken in the same order it takes its own), no installation row
      (installations.ensure does not wait for a committed row; installations.record's lock is
      taken by the installation's events only, which its serial key runs one at a time);
    - a refresh storing a URL that another repository's row still holds takes that row from
      it only under its key, taken without waiting (repositories.RELEASE_URL): else it would
      hold a row that a holder of its key locks later, after rows it has us wait for;
    - outside events, `hookwise reconcile --repo` takes its rows' keys exclusively (holding
      no row yet) before it reactivates them; /admin's override updates one row by id, holding
      nothing else; a GitHub redirect (repositories.moved) takes the row's key without waiting
      first, and so the key of the row it takes the URL from. None creates a row. The Linear
      handler touches no repository row.
    Installation rows are created in step 2 for every event whose handlers may need one; later
    a handler's installations.ensure only reads a committed row.

    A batch of pull request and check run events naming their installation (as an App's
    webhooks do) costs the statements it always did: the keys go in the statement that
    creates the installations' rows. A batch naming repositories but no installation costs
    one statement more than before."""
    shared = _shared(events)
    await _of_whole(conn, shared)
    await repository_keys.take(
        conn,
        {github_id: shared.only_locked(github_id) for github_id in shared.strength},
        shared.installation_ids,
    )
    for github_id in sorted(shared.strength):
        level = repositories.STRENGTHS[shared.strength[github_id]]
        described = shared.found.get(github_id)
        if described is not None and shared.only_locked(github_id):
            # Refreshed here, the row would say what a later event's payload says before an
            # earlier event's handler rewrites it (a repository created for a pull request,
            # then marked removed by the installation's deletion before it): held as strongly
            # as a refresh would, each handler refreshes it in the batch's order.
            await repositories.lock(conn, github_id, strength="UPDATE")
        elif described is not None:
            await repositories.hold(conn, described, strength=level)
        else:
            await repositories.lock(conn, github_id, strength=level)


async def take_keys(
    conn: asyncpg.Connection, events: Sequence[tuple[EventRow, Mapping[str, Any]]]
) -> None:
    """take_shared's steps 1 and 2 with every key exclusive, for a batch whose take_shared
    failed and was rolled back (a payload the store refuses): its handlers then write every
    row late, in the events' order, under keys no other transaction holds."""
    shared = _shared(events)
    await _of_whole(conn, shared)
    await repository_keys.take(conn, dict.fromkeys(shared.strength, True), shared.installation_ids)
