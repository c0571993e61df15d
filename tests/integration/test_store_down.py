"""PostgreSQL stopped mid-run: deliveries get 503 (GitHub marks them failed, to redeliver), and
hookwise recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from app.store import migrations
from tests.conftest import GITHUB_SECRET
from tests.harness import running_hookwise
from tests.pg import EmbeddedPostgres
from tests.signing import github_headers

BODY = json.dumps({"action": "opened", "number": 1}).encode()


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pgdata", keep_data=True)
    yield server
    server.stop()


async def test_database_down_is_503_then_recovers(own_pg: EmbeddedPostgres) -> None:
    dsn = own_pg.dsn()
    conn = await asyncpg.connect(dsn)
    await migrations.migrate(conn)
    await conn.close()
    settings = Settings().with_env(DATABASE_URL=dsn, GITHUB_WEBHOOK_SECRET=GITHUB_SECRET)

    async def post(delivery: str):
        headers = github_headers(BODY, "pull_request", delivery=delivery)
        return await hookwise.client.post("/webhooks/github", content=BODY, headers=headers)

    async with running_hookwise(settings, dsn) as hookwise:
        assert (await post("before")).status_code == 202

        await asyncio.to_thread(own_pg.stop)
        down = await post("during")
        assert down.status_code == 503
        assert down.json() == {"error": "storage unavailable, try again later"}
        assert down.headers["retry-after"] == "5"
        assert (await hookwise.client.get("/readyz")).status_code == 503
        assert (await hookwise.client.get("/healthz")).status_code == 200

        await asyncio.to_thread(own_pg.start)
        assert (await post("after")).status_code == 202
        assert (await post("during")).status_code == 202
        assert (await hookwise.client.get("/readyz")).status_code == 200

    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetch("SELECT delivery_id FROM integration_events ORDER BY received_at")
    finally:
        await conn.close()
    assert [r["delivery_id"] for r in stored] == ["before", "after", "during"]
