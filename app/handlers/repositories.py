"""`repository`: keep a repository's name, owner and status as GitHub says them.

A rename or a transfer changes `owner/name`, which every GitHub URL hookwise builds for a
reconcile is made of; archived and unarchived, deleted change whether there is anything to look
at. Rows are kept (the history stays): deleted is `removed`, as when an installation drops it.
The other actions (created, edited, privatized, publicized) refresh what the payload says, as
any event with a repository does; none changes anything when its payload is older than what
set the row (app/store/repositories.py says how that is told).
"""

from __future__ import annotations

from app.handlers.github_payload import (
    ensure_repository,
    repository_from_payload,
    take_keys,
    take_shared,
)
from app.router import HandlerContext, Router
from app.store import repositories

router = Router()
# First in each batch: the rows its events share, in one order (github_payload.take_shared).
router.prelude(take_shared, fallback=take_keys)

# What each action makes of the stored status; None leaves it.
STATUS = {
    "archived": "archived",
    "unarchived": "active",
    "deleted": "removed",
}
ACTIONS = ("created", "renamed", "transferred", "edited", "privatized", "publicized", *STATUS)


async def repository_changed(ctx: HandlerContext) -> None:
    payload = ctx.payload
    # The payload's repository is as it is now: the new owner/name after a rename or transfer.
    await ensure_repository(ctx.conn, payload, arrival=ctx.event.arrival)
    action = payload.get("action")
    status = STATUS.get(str(action))
    if status is not None:
        # Not from a payload older than what set the row: GitHub redelivering an `archived`
        # after the `unarchived` (repositories.STATUS).
        repository = repository_from_payload(payload, arrival=ctx.event.arrival)
        await repositories.set_status(ctx.conn, repository, status)
    ctx.log.info(
        "repository %s %s",
        payload["repository"]["full_name"],
        action,
        extra={"action": f"repository_{action}"},
    )


for action in ACTIONS:
    router.add(repository_changed, "github", "repository", action)
