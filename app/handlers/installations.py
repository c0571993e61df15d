"""`installation` and `installation_repositories`: keep installations and repositories current,
and queue a look at the repositories they add or let the App read again (app/reconcile.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from app import reconcile, retry
from app.handlers.github_payload import parse_time
from app.router import FetchContext, HandlerContext, Router
from app.store import installations, repositories, repository_keys
from app.store.installations import Installation
from app.store.repositories import Repository

router = Router()


def _installation(ctx: HandlerContext) -> Installation:
    data = ctx.payload["installation"]
    account = data.get("account") or {}
    suspended_by = data.get("suspended_by") or {}
    # An enterprise's installation names its account {id, slug, name}, without login or type
    # (GitHub's webhook schemas, `installation.account`): its slug is the login it goes by.
    # A null login counts as none.
    enterprise = account.get("login") is None and account.get("slug") is not None
    return Installation(
        id=data["id"],
        stamp=parse_time(data.get("updated_at")),
        arrival=ctx.event.arrival,
        account_login=account.get("slug") if enterprise else account.get("login"),
        account_type="Enterprise" if enterprise else account.get("type"),
        account_id=account.get("id"),
        target_type=data.get("target_type"),
        repository_selection=data.get("repository_selection"),
        permissions=data.get("permissions") or {},
        events=data.get("events") or (),
        suspended_at=parse_time(data.get("suspended_at")),
        suspended_by=suspended_by.get("login"),
    )


def _listed(items: Iterable[Mapping[str, Any]] | None, *, arrival: int) -> list[Repository]:
    """The short repository objects of installation payloads (id, name, full_name, private),
    or the full ones GitHub's API lists (their updated_at too); `arrival` is the event's
    (Repository.arrival)."""
    found = []
    for item in items or ():
        owner, _, _ = item["full_name"].partition("/")
        found.append(
            Repository(
                github_id=item["id"],
                full_name=item["full_name"],
                name=item.get("name"),
                owner=owner or None,
                private=item.get("private"),
                arrival=arrival,
                updated_at=parse_time(item.get("updated_at")),
            )
        )
    return found


async def _remove(
    ctx: HandlerContext, installation_id: int, items: Iterable[Mapping[str, Any]] | None
) -> None:
    """Mark repositories an installation lost removed. Only `id` is sure to be in each item
    (GitHub's webhook schemas make the rest of `repositories_removed` items optional): one
    without `full_name` can only mark a repository already known."""
    items = list(items or ())
    await repositories.remove(
        ctx.conn,
        installation_id,
        _listed((i for i in items if i.get("full_name")), arrival=ctx.event.arrival),
    )
    known = [i["id"] for i in items if not i.get("full_name")]
    await repositories.remove_known(ctx.conn, installation_id, known, ctx.event.arrival)


async def _look(
    ctx: HandlerContext,
    event_type: str,
    installation: Installation,
    added: list[Repository] | None,
) -> None:
    """Queue a backfill or reconcile of these repositories (None: all of the installation's).

    Only with a GitHub App to look with, and not while suspended: GitHub refuses its token. The
    cause is this event, so a retry or replay of it queues nothing twice.
    """
    if ctx.app.github is None or installation.suspended_at is not None:
        return
    github_ids = None if added is None else [r.github_id for r in added]
    await reconcile.after_installation_change(
        ctx.conn, event_type, installation.id, github_ids, cause=str(ctx.event.id)
    )


async def _recorded(ctx: HandlerContext) -> Installation | None:
    """The event's installation once recorded (installations.record), for handlers that then
    add or remove its repositories; None when it is uninstalled.

    A view older than the stored one (a later event of the installation came first: this one
    waited for its retry, or is replayed) is not recorded, but what the event says of each
    repository may still be news: each is ordered by its own arrival (repositories.add,
    remove). The stored suspension then says whether GitHub would let us look."""
    installation = _installation(ctx)
    if await installations.record(ctx.conn, installation):
        return installation
    stored = await installations.standing(ctx.conn, installation.id)
    if stored is None or stored.deleted:
        return None
    return replace(installation, suspended_at=stored.suspended_at)


@router.register("github", "installation", "created")
async def installation_created(ctx: HandlerContext) -> None:
    installation = await _recorded(ctx)
    if installation is None:
        return
    if "repositories" not in ctx.payload:
        if ctx.app.github is not None and installation.suspended_at is None:
            await reconcile.list_repositories(ctx.conn, installation.id, cause=str(ctx.event.id))
        return
    listed = _listed(ctx.payload.get("repositories"), arrival=ctx.event.arrival)
    await repositories.add(ctx.conn, installation.id, listed)
    await _look(ctx, reconcile.BACKFILL, installation, listed)


@router.fetcher("github", reconcile.LIST_REPOSITORIES)
async def list_installed(ctx: FetchContext) -> list[Mapping[str, Any]] | None:
    """The repositories GitHub lists for an installation (GET /installation/repositories, its
    token), asked before the transaction; None without a GitHub App."""
    github = ctx.app.github
    if github is None:
        return None
    api = await github.installation_api(int(ctx.payload["installation"]["id"]))
    return [
        item
        async for item in api.getiter(
            "/installation/repositories?per_page=100", iterable_key="repositories"
        )
    ]


@router.register("github", reconcile.LIST_REPOSITORIES)
async def installation_listed(ctx: HandlerContext) -> None:
    """Record the listed repositories and backfill them, as if the installation event had
    listed them."""
    if ctx.fetched is None:
        return
    installation_id = int(ctx.payload["installation"]["id"])
    listed = _listed(ctx.fetched, arrival=ctx.event.arrival)
    # Their keys, as every writer of a repository holds its key first: the batch's prelude
    # did not know these repositories (github_payload.take_shared). Not waited for, since
    # this transaction holds rows already: the event runs again once the holder committed.
    busy = await repository_keys.try_take(ctx.conn, [r.github_id for r in listed])
    if busy:
        raise retry.busy(f"repositories it adds are being written: {sorted(busy)}")
    await repositories.add(ctx.conn, installation_id, listed)
    await reconcile.after_installation_change(
        ctx.conn,
        reconcile.BACKFILL,
        installation_id,
        [r.github_id for r in listed],
        cause=str(ctx.event.id),
    )


@router.register("github", "installation", "suspend")
async def installation_suspended(ctx: HandlerContext) -> None:
    # The payload carries the whole installation: suspended_at, permissions and events included.
    await installations.record(ctx.conn, _installation(ctx))


@router.register("github", "installation", "unsuspend")
@router.register("github", "installation", "new_permissions_accepted")
async def installation_changed(ctx: HandlerContext) -> None:
    # GitHub sent nothing while the installation was suspended, and what permissions hid may
    # have changed: every repository gets a reconcile.
    installation = _installation(ctx)
    if await installations.record(ctx.conn, installation):
        await _look(ctx, reconcile.RECONCILE, installation, None)


@router.register("github", "installation", "deleted")
async def installation_deleted(ctx: HandlerContext) -> None:
    # Deletion is final (GitHub never reuses an installation id), so it applies in any order.
    installation = _installation(ctx)
    await installations.record(ctx.conn, installation)
    await _remove(ctx, installation.id, ctx.payload.get("repositories"))
    await repositories.remove_all(ctx.conn, installation.id)
    await installations.mark_deleted(ctx.conn, installation.id)


@router.register("github", "installation_repositories", "added")
@router.register("github", "installation_repositories", "removed")
async def installation_repositories_changed(ctx: HandlerContext) -> None:
    installation = await _recorded(ctx)
    if installation is None:
        return
    added = _listed(ctx.payload.get("repositories_added"), arrival=ctx.event.arrival)
    await repositories.add(ctx.conn, installation.id, added)
    await _remove(ctx, installation.id, ctx.payload.get("repositories_removed"))
    if added:
        await _look(ctx, reconcile.BACKFILL, installation, added)
