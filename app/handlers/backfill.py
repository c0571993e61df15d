"""`hookwise.backfill` and `hookwise.reconcile`: look at one repository on GitHub and record what
is there as if its webhooks had arrived (app/reconcile.py queues these events).

Both list the open pull requests and the latest check runs of their heads. Reconcile then fetches
one by one what is stored as unfinished but GitHub's lists no longer show: pull requests stored
open (closed or merged while no webhook reached us) and check runs not completed. Rows are written
by the webhook handlers' store functions, so nothing moves backwards, and the state history names
the cause: `manual_check` for a backfill, `reconcile` for a reconcile.

The looking is the event's fetcher: it reads what the store needs checked with a connection of
its own, returns it, then asks GitHub with no connection, transaction or lock held. The handler
then records what was found in the event's one short transaction (app/router.py). It writes
pull requests and check runs in GitHub's listing order, which no batch of webhooks follows: the
batch's prelude has taken the repository's row FOR UPDATE first (github_payload.take_shared),
and every other writer of them holds that row, so none is writing them meanwhile.

A repository that answers 404 or 403 (gone, or permissions changed) counts a failure and the event
completes, since trying again soon would not help; enough failures in a row mark it error, then
suspended. Rate limits are not failures: RateLimited reschedules the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from gidgethub import BadRequest

from app.clients.github import GitHubAPI
from app.clients.urls import part, query, repo_url
from app.handlers import check_runs as check_run_handler
from app.handlers import pull_requests as pull_request_handler
from app.handlers.github_payload import ensure_repository, installation_id
from app.handlers.links import relink
from app.reconcile import BACKFILL, RECONCILE
from app.router import FetchContext, HandlerContext, Router
from app.store import check_runs, links, pull_requests, repositories
from app.store.pool import connection
from app.store.repositories import Watched

router = Router()

TRIGGERS = {BACKFILL: "manual_check", RECONCILE: "reconcile"}
PER_PAGE = 100
# Answers that say the App may no longer read the repository.
REFUSED = frozenset({HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN})


class NoGitHubApp(Exception):
    """Backfill and reconcile need the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY."""


@dataclass(frozen=True)
class Skipped:
    """Nothing to look at, and why (removed, suspended, no installation can read it)."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """GitHub answered 403 or 404 for the repository: counted as a failure of the look."""

    error: str


@dataclass
class Found:
    """What one look at one repository found on GitHub; recorded by `survey`."""

    full_name: str
    open_numbers: set[int] = field(default_factory=set)
    # Open PRs as listed, then those stored open that GitHub no longer lists (fetched one by one).
    pulls: list[Mapping[str, Any]] = field(default_factory=list)
    # The latest runs of the open heads, then the stored unfinished runs fetched one by one.
    runs: dict[int, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Look:
    """One look at one repository: reads from GitHub only, outside any transaction."""

    ctx: FetchContext
    api: GitHubAPI
    found: Found

    @property
    def path(self) -> str:
        return repo_url(self.found.full_name)

    async def open_pulls(self) -> None:
        """Every open PR and the latest check runs of its head."""
        listed = [
            pr
            async for pr in self.api.getiter(
                f"{self.path}/pulls{query({'state': 'open', 'per_page': PER_PAGE})}"
            )
        ]
        self.found.pulls.extend(listed)
        self.found.open_numbers = {pr["number"] for pr in listed}
        for sha in dict.fromkeys(pr["head"]["sha"] for pr in listed):
            await self.head_runs(sha)

    async def closed_pulls(self, stored_open: list[int]) -> None:
        """Fetch the PRs stored open that GitHub no longer lists as open."""
        for number in sorted(set(stored_open) - self.found.open_numbers):
            pr = await self.get_or_none(f"{self.path}/pulls/{part(number)}")
            if pr is not None:
                self.found.pulls.append(pr)

    async def unfinished_runs(self, stored: list[int]) -> None:
        """Fetch the check runs stored as not completed that this look has not seen yet."""
        for run_id in stored:
            if run_id not in self.found.runs:
                run = await self.get_or_none(f"{self.path}/check-runs/{part(run_id)}")
                if run is not None:
                    self.found.runs[run["id"]] = run

    async def head_runs(self, sha: str) -> None:
        """The latest run of each check on a commit (GitHub's filter=latest, its default)."""
        url = f"{self.path}/commits/{part(sha)}/check-runs{query({'per_page': PER_PAGE})}"
        try:
            async for run in self.api.getiter(url, iterable_key="check_runs"):
                self.found.runs[run["id"]] = run
        except BadRequest as exc:
            # A head commit GitHub no longer has (history rewritten): nothing to record for it.
            if exc.status_code != HTTPStatus.UNPROCESSABLE_ENTITY:
                raise
            self.ctx.log.info("no commit %s in %s", sha, self.found.full_name)

    async def get_or_none(self, url: str) -> Any:
        """One item; None when only it is gone (the repository answered its list a moment ago)."""
        try:
            return await self.api.getitem(url)
        except BadRequest as exc:
            if exc.status_code != HTTPStatus.NOT_FOUND:
                raise
            self.ctx.log.info("%s: not found", url)
            return None


@router.fetcher("github", BACKFILL)
@router.fetcher("github", RECONCILE)
async def look(ctx: FetchContext) -> Found | Skipped | Refused:
    """Ask GitHub what the repository holds; what is stored is read first, and its connection
    returned before the first request.

    Raises NoGitHubApp without a GitHub App; GitHub's other errors (5xx, rate limits) propagate
    and retry or reschedule the event.
    """
    github = ctx.app.github
    if github is None:
        raise NoGitHubApp
    reconciling = ctx.event.event_type == RECONCILE
    stored_open: list[int] = []
    unfinished: list[int] = []
    async with connection(ctx.app.pool) as conn:
        repository = await repositories.by_github_id(conn, int(ctx.payload["repository"]["id"]))
        if repository is not None and reconciling:
            stored_open = await pull_requests.open_numbers(conn, repository.id)
            unfinished = await check_runs.unfinished(conn, repository.id)
    if repository is not None and repository.status in ("removed", "suspended"):
        # Queued before it was removed or suspended: revived by an installation event or by
        # `hookwise reconcile --repo`, which queue a look of their own.
        return Skipped(repository.status)
    full_name = repository.full_name if repository else ctx.payload["repository"].get("full_name")
    owner = (repository and repository.installation_id) or installation_id(ctx.payload)
    if full_name is None:
        return Skipped("not stored")
    if owner is None:
        return Skipped("no installation can read it")
    found = Found(full_name)
    try:
        api = await github.installation_api(owner)
        looking = Look(ctx, api, found)
        await looking.open_pulls()
        if reconciling:
            await looking.closed_pulls(stored_open)
            await looking.unfinished_runs(unfinished)
    except BadRequest as exc:
        if exc.status_code not in REFUSED:
            raise
        return Refused(f"{int(exc.status_code)} {exc}")
    return found


@router.register("github", BACKFILL)
@router.register("github", RECONCILE)
async def survey(ctx: HandlerContext) -> None:
    """Record what `look` found, in the event's transaction; no network here."""
    fetched: Found | Skipped | Refused = ctx.fetched
    repository = await _repository(ctx)
    if isinstance(fetched, Skipped) or repository is None:
        reason = fetched.reason if isinstance(fetched, Skipped) else "not stored"
        ctx.log.info("not looking at %s: %s", _name(ctx), reason)
        return
    if repository.status in ("removed", "suspended"):
        # Removed or suspended while GitHub was being asked: what was found is not recorded.
        ctx.log.info("not recording %s: %s", repository.full_name, repository.status)
        return
    if isinstance(fetched, Refused):
        await _refused(ctx, repository, fetched.error)
        return
    recording = Recording(ctx, repository, TRIGGERS[ctx.event.event_type])
    await recording.pulls(fetched.pulls)
    await recording.runs(fetched.runs.values())
    await repositories.polled(ctx.conn, repository.id)
    ctx.log.info(
        "%s of %s: %d open pull requests, %d written, %d check runs",
        ctx.event.event_type,
        repository.full_name,
        len(fetched.open_numbers),
        recording.pulls_written,
        len(fetched.runs),
        extra={"action": "repository_polled"},
    )


@dataclass
class Recording:
    """Writes what a look found, as the webhook handlers would, inside the event's transaction."""

    ctx: HandlerContext
    repository: Watched
    trigger: str
    pulls_written: int = 0

    async def pulls(self, listed: list[Mapping[str, Any]]) -> None:
        conn = self.ctx.conn
        stored = await pull_requests.stamps(conn, [pr["id"] for pr in listed])
        for pr in listed:
            row = pull_request_handler.to_row(
                pr,
                action=None,
                delivery_id=self.ctx.event.delivery_id,
                arrival=self.ctx.event.arrival,
            )
            # Unchanged since stored: rewriting would only replace the webhook's trigger with ours.
            if stored.get(row.github_id) == (row.github_updated_at, row.state):
                continue
            pull_request_id = await pull_requests.upsert(
                conn, self.repository.id, replace(row, last_trigger=self.trigger)
            )
            await check_runs.link_orphans(
                conn,
                pull_request_id=pull_request_id,
                repository_id=self.repository.id,
                head_sha=pr["head"]["sha"],
            )
            # Its branch, title or body may have changed unheard: the links follow them now,
            # since a later webhook relinks only when it changes them itself.
            found = await links.pull_with_links(conn, row.github_id)
            if found is not None:
                await relink(conn, self.ctx.log, found[0], current=found[1])
            self.pulls_written += 1

    async def runs(self, found: Iterable[Mapping[str, Any]]) -> None:
        """As the check_run handler records a run: upsert, then link it to its PR if stored."""
        conn, repository = self.ctx.conn, self.repository
        for run in found:
            row = check_run_handler.to_row(run, arrival=self.ctx.event.arrival)
            check_run_id = await check_runs.upsert(conn, repository.id, row)
            pull_request_id = await check_runs.find_pull_request(
                conn,
                repository_id=repository.id,
                numbers=check_run_handler.listed_numbers(run, repository.github_id),
                head_sha=run["head_sha"],
            )
            if pull_request_id is not None:
                await check_runs.link(
                    conn, check_run_id=check_run_id, pull_request_id=pull_request_id
                )


async def _repository(ctx: HandlerContext) -> Watched | None:
    github_id = int(ctx.payload["repository"]["id"])
    stored = await repositories.by_github_id(ctx.conn, github_id)
    if stored is None and ctx.payload["repository"].get("full_name"):
        # Queued by hand or replayed into an emptied database: the payload names enough.
        await ensure_repository(ctx.conn, ctx.payload, arrival=ctx.event.arrival)
        stored = await repositories.by_github_id(ctx.conn, github_id)
    return stored


def _name(ctx: HandlerContext) -> str:
    repo = ctx.payload.get("repository") or {}
    return str(repo.get("full_name") or repo.get("id"))


async def _refused(ctx: HandlerContext, repository: Watched, error: str) -> None:
    settings = ctx.settings.worker
    status, failures = await repositories.poll_failed(
        ctx.conn,
        repository.id,
        error,
        error_after=settings.reconcile_error_after,
        suspend_after=settings.reconcile_suspend_after,
    )
    ctx.log.warning(
        "%s of %s refused (%s): %d in a row, now %s",
        ctx.event.event_type,
        repository.full_name,
        error,
        failures,
        status,
        extra={"action": "repository_refused"},
    )
