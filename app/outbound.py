"""Side effects exactly once: every post to GitHub or Linear goes through outbound_actions.

The bookkeeping commits on a connection of its own, outside the handler's transaction: a post
that happened must stay recorded even when the handler later fails and its transaction rolls
back. A try that may have reached the remote but was not recorded (a crash in between) is
looked for with `find` before anything is posted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.store import outbound

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


async def perform(
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
    place instead (a summary comment), and without, they return the first one's id."""
    async with pool.acquire() as conn:
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
        async with pool.acquire() as conn:
            await outbound.mark_failed(conn, action.kind, action.key, error)
        raise
    async with pool.acquire() as conn:
        await outbound.mark_sent(conn, action.kind, action.key, remote_id, request)
    log.info("%s %s: %s", action.kind, action.target, remote_id, extra={"action": "outbound_sent"})
    return remote_id
