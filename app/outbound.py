"""Side effects exactly once: every post to GitHub or Linear goes through outbound_actions.

The bookkeeping commits at once, statement by statement: a post that happened stays recorded
whatever the reaction does next. A try that may have reached the remote but was not recorded
(a crash in between) is looked for with `find` before anything is posted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.store import outbound
from app.store.pool import connection

log = logging.getLogger(__name__)

Create = Callable[[], Awaitable[str]]
Update = Callable[[str], Awaitable[None]]
Find = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class Action:
    """One effect: its kind ('github.review'), the key that makes it unique, and its target."""

    kind: str
    key: str
    target: str


async def post_once(
    pool: asyncpg.Pool,
    action: Action,
    *,
    event_id: uuid.UUID | None,
    request: Any,
    create: Create,
    update: Update | None = None,
    find: Find | None = None,
) -> str:
    """Create the remote thing once and return its id; with `update`, later calls update it in
    place instead (a summary comment), and without, they return the first one's id. `find`
    looks for what an earlier try may have created without recording it (by a marker in the
    body, say): every reaction's "find our earlier post" goes through here.

    The bookkeeping takes a pooled connection for each statement and gives it back before any
    remote call: no connection is held while GitHub or Linear answers."""
    async with connection(pool) as conn:
        claimed = await outbound.claim(
            conn, action.kind, action.key, event_id=event_id, target=action.target, request=request
        )
    remote_id = claimed.remote_id
    if claimed.status != "sent" and claimed.attempts > 1 and find is not None:
        # An earlier try may have posted before it could record it.
        remote_id = await find()
    try:
        if remote_id is None:
            remote_id = await create()
        elif update is not None:
            await update(remote_id)
        elif claimed.status == "sent":
            return remote_id
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        async with connection(pool) as conn:
            await outbound.mark_failed(conn, action.kind, action.key, error)
        raise
    async with connection(pool) as conn:
        await outbound.mark_sent(conn, action.kind, action.key, remote_id, request)
    log.info("%s %s: %s", action.kind, action.target, remote_id, extra={"action": "outbound_sent"})
    return remote_id
