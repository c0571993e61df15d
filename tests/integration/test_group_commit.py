"""Group commit: deliveries that arrive together share one INSERT, and not one another's fate."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from app.context import open_context
from app.deliveries import Delivery
from app.settings import Settings
from app.store.group_commit import GroupCommit


async def test_a_delivery_postgresql_refuses_fails_alone(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # A text column cannot hold U+0000; the parsers never let one through, but whatever else
    # PostgreSQL may refuse must not cost the deliveries that happened to share its batch.
    good = [str(uuid.uuid4()) for _ in range(5)]
    async with open_context(settings, dsn) as ctx:
        github = ctx.integration_ids["github"]
        group = GroupCommit(ctx.pool, writers=1)
        try:
            results = await asyncio.gather(
                *(
                    group.store(github, Delivery("github", "1", key, "push", None, {}, b"{}"))
                    for key in [*good[:3], "bad\x00id", *good[3:]]
                ),
                return_exceptions=True,
            )
        finally:
            await group.close()
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], asyncpg.DataError)
    assert [r.duplicate for r in results if not isinstance(r, BaseException)] == [False] * 5
    stored = await db.fetch("SELECT delivery_id FROM integration_events")
    assert sorted(r["delivery_id"] for r in stored) == sorted(good)
