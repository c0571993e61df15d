"""Ask the model once per event: a retried attempt reuses the answer an earlier one paid for.

The answer is kept on a connection of its own, so it survives the rollback of an attempt that
failed after it (GitHub down while posting the review), and forgotten in the event's own
transaction, so it goes exactly when an attempt succeeds. Another event (a Re-analyse button, a
new commit) asks afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.clients.anthropic import Answer
from app.router import HandlerContext
from app.store import answers


async def ask_once(
    event: HandlerContext, purpose: str, ask: Callable[[], Awaitable[Answer]]
) -> Answer:
    pool, event_id = event.app.pool, event.event.id
    async with pool.acquire() as conn:
        answer = await answers.get(conn, event_id, purpose)
    if answer is None:
        answer = await ask()
        async with pool.acquire() as conn:
            await answers.put(conn, event_id, purpose, answer)
    else:
        event.log.info("reusing the model's answer from an earlier attempt (%s)", purpose)
    await answers.forget(event.conn, event_id, purpose)
    return answer
