"""A refresh that takes a URL another repository's row still holds releases it from that row
only under that repository's key: writing the row without it, the refresh would hold a row
that a batch holding its key (exclusively) locks later, out of the order every batch keeps
(app/handlers/github_payload.take_shared), and the two could wait on each other.

The worker, the handlers and the database are the real ones; the transactions meet at the
worst moment with a row held from a connection of the test's own.
"""

from __future__ import annotations

import logging

import asyncpg
import pytest

from app.context import open_context
from app.serving import default_router
from app.settings import Settings
from tests.integration.test_batch_equivalence_property import store_all, timed
from tests.integration.test_linear_relink_order import until_waiting
from tests.integration.test_prelude_new_repositories import outcomes, troubles
from tests.integration.test_worker import fast, running_worker
from tests.integration.test_worker_lock_order import in_repository

# The URL repository 604's row holds, which GitHub now gives repository 601 (604 was renamed
# and its event is in flight).
URL = "https://github.com/octo/taken"


def pulled(number: int, repository: int, index: int, **repo: object) -> tuple[str, ...]:
    return (f"d-{index:02d}", "github", "pull_request", in_repository(number, repository, **repo))


async def test_a_refresh_releasing_a_url_waits_on_no_batch_holding_that_repositorys_key(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1, HOOKWISE_WORKER_BATCH=8)
    # Repositories 601-604 of installation 701, 604 holding URL.
    async with open_context(configured, dsn) as ctx:
        await store_all(
            ctx,
            [
                pulled(1, 1, 1),
                pulled(2, 2, 2),
                pulled(3, 3, 3),
                pulled(4, 4, 4, html_url=URL),
            ],
        )
    async with running_worker(configured, dsn, default_router(), concurrency=1):
        pass
    renamed = timed(("repository", "renamed", ((604, True, "octo", "main", 701),)), 7)
    holder = await asyncpg.connect(dsn)
    try:
        async with (
            open_context(configured, dsn) as ctx,
            running_worker(configured, dsn, default_router(), concurrency=2) as (_, running),
        ):
            held = holder.transaction()
            await held.start()
            await holder.execute("SELECT FROM repositories WHERE github_id = 603 FOR UPDATE")
            # Batch X: 602 held (FOR KEY SHARE), then waiting for 603; 604's key held
            # exclusively (its rename rewrites it), its row to be locked after 603.
            await store_all(ctx, [pulled(5, 2, 5), pulled(6, 3, 6), ("d-07", *renamed)])
            await until_waiting(dsn, 1)
            # Batch Y: 601 takes URL (releasing it from 604's row), then 602 refreshed (a new
            # default branch), waiting for X. Had Y written 604's row, X would wait for it.
            await store_all(
                ctx, [pulled(8, 1, 8, html_url=URL), pulled(9, 2, 9, default_branch="dev")]
            )
            await until_waiting(dsn, 2)
            await held.rollback()
            await running.idle(wake=True)
    finally:
        await holder.close()
    assert troubles(caplog) == []
    assert await outcomes(db) == [("completed", 1, None)] * 9
    urls = await db.fetch("SELECT github_id, url FROM repositories WHERE github_id IN (601, 604)")
    assert sorted(tuple(r) for r in urls) == [
        (601, URL),
        (604, "https://github.com/octo/repo604-renamed"),
    ]


async def test_a_pull_request_taking_a_url_whose_holder_another_transaction_holds_completes(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # 604's row keeps URL while a transaction holds it (here FOR KEY SHARE, as a batch with a
    # pull request of 604 does): 601's refresh stores no URL. Its pull request is recorded all
    # the same, the URL left for a later refresh, rather than failing as "not current".
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1, HOOKWISE_WORKER_BATCH=8)
    async with open_context(configured, dsn) as ctx:
        await store_all(ctx, [pulled(1, 1, 1), pulled(4, 4, 4, html_url=URL)])
    async with running_worker(configured, dsn, default_router(), concurrency=1):
        pass
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM repositories WHERE github_id = 604 FOR KEY SHARE")
            async with open_context(configured, dsn) as ctx:
                await store_all(ctx, [pulled(8, 1, 8, html_url=URL)])
            async with running_worker(configured, dsn, default_router(), concurrency=1):
                pass
    finally:
        await holder.close()
    assert await outcomes(db) == [("completed", 1, None)] * 3
    pulls = await db.fetch(
        "SELECT p.pr_number, r.github_id FROM pull_requests p"
        " JOIN repositories r ON r.id = p.repository_id ORDER BY p.pr_number"
    )
    assert [tuple(r) for r in pulls] == [(1, 601), (4, 604), (8, 601)]
    # 601 keeps the URL it had until a refresh finds URL free.
    urls = await db.fetch("SELECT github_id, url FROM repositories ORDER BY github_id")
    assert [tuple(r) for r in urls] == [(601, "https://github.com/octo/repo1"), (604, URL)]
