"""Linear `Issue` create / update / remove: keep `linear_issues` current.

An older payload (by data.updatedAt) never overwrites a newer one; remove marks the row
(removed_at) and keeps it, so links and history stay readable. A newly seen issue may already
be named by open pull requests (the PR came first): those are relinked, and the workflow
engine tells Linear (app/workflows/builtins.py). `Comment` and other
types have no handler: they are stored and marked ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app import retry, serial
from app.handlers.github_payload import parse_time
from app.handlers.links import relink
from app.queue import TRY_LOCK_ALL
from app.router import HandlerContext, Router
from app.store import linear_issues, links
from app.store.linear_issues import LinearIssue

router = Router()


def issue_of(
    payload: Mapping[str, Any],
    *,
    received_at: datetime,
    removed: bool,
    arrival: int | None = None,
) -> LinearIssue | None:
    """The row a webhook's data describes; None when it does not even say which issue."""
    data = payload.get("data") or {}
    team = data.get("team") or {}
    state = data.get("state") or {}
    identifier = data.get("identifier")
    if not identifier and team.get("key") and data.get("number") is not None:
        identifier = f"{team['key']}-{data['number']}"
    if not data.get("id") or not identifier:
        return None
    team_key = team.get("key") or identifier.rsplit("-", 1)[0]
    updated_at = parse_time(data.get("updatedAt"))
    removed_at = None
    if removed:
        # When it happened, from the payload, so a replay writes the same row.
        removed_at = (
            parse_time(data.get("archivedAt"))
            or parse_time(payload.get("createdAt"))
            or received_at
        )
        updated_at = max(updated_at or removed_at, removed_at)
    return LinearIssue(
        id=str(data["id"]),
        identifier=str(identifier),
        title=data.get("title"),
        team_id=data.get("teamId") or team.get("id"),
        team_key=team_key,
        state_id=data.get("stateId") or state.get("id"),
        state_name=state.get("name"),
        state_type=state.get("type"),
        url=data.get("url") or payload.get("url"),
        linear_updated_at=updated_at,
        removed_at=removed_at,
        last_arrival=arrival,
    )


@router.register("linear", "Issue", "create")
@router.register("linear", "Issue", "update")
@router.register("linear", "Issue", "remove")
async def issue(ctx: HandlerContext) -> None:
    removed = ctx.event.action == "remove"
    row = issue_of(
        ctx.payload,
        received_at=ctx.event.received_at,
        removed=removed,
        arrival=ctx.event.arrival,
    )
    if row is None:
        ctx.log.warning("Linear Issue %s without an id or identifier", ctx.event.action)
        return
    outcome = await linear_issues.upsert(ctx.conn, row)
    if outcome != "inserted":
        return
    # The workflow engine, after this handler, starts hookwise.linear_sync for each of them.
    pulls = await links.open_pulls_mentioning(ctx.conn, row.identifier)
    if not pulls:
        return
    # Their serial keys first, as a batch of their events holds them from its start: a batch
    # relinks its pull requests in arrival order, this handler in GitHub id order, and each
    # holding the other's next link rows would be a deadlock. Taken, the pull requests' events
    # wait for this transaction. Not waited for: this transaction may hold rows (its batch's
    # prelude locks repositories) that the batch holding a key waits on; that batch relinks
    # without this issue, uncommitted, so this event runs again once it has committed.
    keys = sorted(
        {
            key
            for repository, number in await links.numbered(ctx.conn, [p.id for p in pulls])
            for key in serial.keys(
                "github", "pull_request", repository=repository, pull_number=number
            )
        }
    )
    busy = [record["key"] for record in await ctx.conn.fetch(TRY_LOCK_ALL, keys)]
    if busy:
        raise retry.busy(f"pull requests it relinks are being handled: {', '.join(busy)}")
    # Read again under the keys: an event that held them may have closed one or changed its text.
    for pull in await links.open_pulls_mentioning(ctx.conn, row.identifier):
        await relink(ctx.conn, ctx.log, pull)
