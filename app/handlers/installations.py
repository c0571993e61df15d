"""`installation` and `installation_repositories`: keep installations and repositories current."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.handlers.github_payload import parse_time
from app.router import HandlerContext, Router
from app.store import installations, repositories
from app.store.installations import Installation
from app.store.repositories import Repository

router = Router()


def _installation(payload: Mapping[str, Any]) -> Installation:
    data = payload["installation"]
    account = data.get("account") or {}
    suspended_by = data.get("suspended_by") or {}
    return Installation(
        id=data["id"],
        stamp=parse_time(data.get("updated_at")),
        account_login=account.get("login"),
        account_type=account.get("type"),
        account_id=account.get("id"),
        target_type=data.get("target_type"),
        repository_selection=data.get("repository_selection"),
        permissions=data.get("permissions") or {},
        events=data.get("events") or (),
        suspended_at=parse_time(data.get("suspended_at")),
        suspended_by=suspended_by.get("login"),
    )


def _listed(items: Iterable[Mapping[str, Any]] | None) -> list[Repository]:
    """The short repository objects of installation payloads (id, name, full_name, private)."""
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
            )
        )
    return found


@router.register("github", "installation", "created")
async def installation_created(ctx: HandlerContext) -> None:
    installation = _installation(ctx.payload)
    if await installations.record(ctx.conn, installation):
        await repositories.add(ctx.conn, installation.id, _listed(ctx.payload.get("repositories")))


@router.register("github", "installation", "suspend")
@router.register("github", "installation", "unsuspend")
@router.register("github", "installation", "new_permissions_accepted")
async def installation_changed(ctx: HandlerContext) -> None:
    # The payload carries the whole installation: suspended_at, permissions and events included.
    await installations.record(ctx.conn, _installation(ctx.payload))


@router.register("github", "installation", "deleted")
async def installation_deleted(ctx: HandlerContext) -> None:
    # Deletion is final (GitHub never reuses an installation id), so it applies in any order.
    installation = _installation(ctx.payload)
    await installations.record(ctx.conn, installation)
    await repositories.remove(ctx.conn, installation.id, _listed(ctx.payload.get("repositories")))
    await repositories.remove_all(ctx.conn, installation.id)
    await installations.mark_deleted(ctx.conn, installation.id)


@router.register("github", "installation_repositories", "added")
@router.register("github", "installation_repositories", "removed")
async def installation_repositories_changed(ctx: HandlerContext) -> None:
    installation = _installation(ctx.payload)
    if not await installations.record(ctx.conn, installation):
        return
    await repositories.add(
        ctx.conn, installation.id, _listed(ctx.payload.get("repositories_added"))
    )
    await repositories.remove(
        ctx.conn, installation.id, _listed(ctx.payload.get("repositories_removed"))
    )
