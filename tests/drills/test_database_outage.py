"""Drill: PostgreSQL stopped and started again under load.

`hookwise serve --no-worker` runs as a process on a PostgreSQL of this test's own, while
closed-loop senders keep posting signed deliveries, each with a new delivery id. The database is
stopped (pg_ctl stop, fast: sessions are cut) once enough deliveries were stored, kept down until
enough were refused, then started again. Every answer is one of 202 (stored) and 503 (storage
unavailable: GitHub marks the delivery failed and it can be redelivered); no other 5xx, and no
connection of ours is reset or left unanswered. Once the database is back, hookwise stores again
by itself, and the refused deliveries sent again are all stored: nothing is lost.

What this drill found: a pooled connection cut by the shutdown mid-statement can fail with
asyncpg's InternalClientError ("cannot switch to state 12"), which was answered 500 (and the
connection then closed on the client); it is now one of the store's "unavailable" errors: 503.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.store import migrations
from tests.drills.conftest import Figures
from tests.drills.support import STEP_TIMEOUT, serve, server_env
from tests.harness import free_port
from tests.pg import EmbeddedPostgres
from tests.signing import github_headers

SENDERS = 16
# Answers of each kind to see before moving to the next phase.
ENOUGH = 300
BODY = json.dumps({"action": "opened", "number": 1, "pull_request": {"number": 1}}).encode()


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pgdata", keep_data=True)
    yield server
    server.stop()


class Load:
    """Senders posting new deliveries until stopped; every answer counted under the phase."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.phase = "up"
        self.counts: Counter[tuple[str, str]] = Counter()
        self.outcomes: dict[str, str] = {}  # delivery id: status, or the transport error
        self.changed = asyncio.Event()
        self._stop = asyncio.Event()

    def seen(self, phase: str, outcome: str) -> int:
        return self.counts[(phase, outcome)]

    async def until(self, phase: str, outcome: str, count: int) -> None:
        """Wait until `count` answers of `outcome` were seen in `phase`."""
        async with asyncio.timeout(STEP_TIMEOUT):
            while self.seen(phase, outcome) < count:
                self.changed.clear()
                await self.changed.wait()

    async def post(self, delivery: str) -> str:
        headers = github_headers(BODY, "pull_request", delivery=delivery)
        try:
            response = await self.client.post("/webhooks/github", content=BODY, headers=headers)
        except httpx.TransportError as exc:
            return type(exc).__name__
        return str(response.status_code)

    async def sender(self) -> None:
        while not self._stop.is_set():
            delivery = str(uuid.uuid4())
            outcome = await self.post(delivery)
            phase = self.phase
            self.outcomes[delivery] = outcome
            self.counts[(phase, outcome)] += 1
            self.changed.set()

    def stop(self) -> None:
        self._stop.set()


async def test_database_stopped_and_started_under_load(
    own_pg: EmbeddedPostgres, figures: Figures
) -> None:
    dsn = own_pg.dsn()
    conn = await asyncpg.connect(dsn)
    await migrations.migrate(conn)
    await conn.close()
    server, url = await serve("--no-worker", env=server_env(dsn, free_port()))
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    try:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            load = Load(client)
            senders = [asyncio.create_task(load.sender()) for _ in range(SENDERS)]
            try:
                await load.until("up", "202", ENOUGH)
                load.phase = "stopping"
                stopping = time.monotonic()
                await asyncio.to_thread(own_pg.stop)
                load.phase = "down"
                down = time.monotonic()
                await load.until("down", "503", ENOUGH)
                ready_down = (await client.get("/readyz")).status_code
                load.phase = "starting"
                starting = time.monotonic()
                await asyncio.to_thread(own_pg.start)
                load.phase = "back"
                back = time.monotonic()
                await load.until("back", "202", 1)
                first_stored = time.monotonic()
                await load.until("back", "202", ENOUGH)
                ready_back = (await client.get("/readyz")).status_code
            finally:
                load.stop()
                await asyncio.gather(*senders)
            refused = [d for d, outcome in load.outcomes.items() if outcome != "202"]
            # What GitHub would redeliver: each refused delivery, sent again.
            again = Counter([await load.post(d) for d in refused])
        assert server.interrupt() == 0
    finally:
        server.kill()

    for (phase, outcome), count in sorted(load.counts.items()):
        figures(f"phase {phase:8} answer {outcome}: {count}")
    figures(
        f"pg_ctl stop took {down - stopping:.2f} s, down {starting - down:.2f} s, start"
        f" {back - starting:.2f} s; first 202 {first_stored - back:.3f} s after the start;"
        f" /readyz {ready_down} while down, {ready_back} after"
    )
    figures(f"{len(refused)} refused deliveries sent again: {dict(again)}")
    outcomes = Counter(load.outcomes.values())
    # What a 500 would log; a 503's own line is expected.
    errors = [
        line
        for line in server.records()
        if line["level"] == "error" and line.get("action") != "store_unavailable"
    ]
    assert set(outcomes) <= {"202", "503"}, (outcomes, errors[:3])
    assert errors == []
    assert load.seen("down", "202") == 0
    assert (ready_down, ready_back) == (503, 200)
    assert set(again) <= {"200", "202"}, again
    conn = await asyncpg.connect(dsn)
    try:
        stored = {
            r["delivery_id"] for r in await conn.fetch("SELECT delivery_id FROM integration_events")
        }
    finally:
        await conn.close()
    assert stored == set(load.outcomes), "every delivery sent is stored once"
    # A 503 whose batch had committed before the connection dropped: stored, and its repeat
    # answered 200 duplicate rather than stored twice.
    figures(
        f"rows {len(stored)} = deliveries sent {len(load.outcomes)};"
        f" refused yet stored (answered 200 when sent again): {again['200']}"
    )
