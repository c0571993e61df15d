"""Drill: `hookwise serve` killed with SIGKILL while GitHub is sending it 2,000 deliveries.

GitHub here is the fake: it signs and POSTs each delivery on a new connection, as GitHub does,
and keeps the attempt (status 0 when no HTTP answer came back). Halfway through the answers the
server gets SIGKILL. Then:

- every delivery answered 2xx is a row already, before anything restarts;
- the rest got no answer, so GitHub's log shows them failed; some of them were committed in the
  instant before the kill (stored, never acknowledged), which `hookwise redeliver` must skip;
- hookwise restarts with its worker, `hookwise redeliver` asks the fake for every failed
  delivery it never stored, the fake redelivers them, and each of the 2,000 events is then
  handled exactly once: status completed, attempts 1, one pull request and one history row each.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import asyncpg

from tests.conftest import GITHUB_SECRET
from tests.drills.conftest import Figures
from tests.drills.support import STEP_TIMEOUT, count_lines, serve, server_env
from tests.fakes.github import Delivery, FakeGitHub
from tests.harness import free_port
from tests.integration.test_worker_processes import opened
from tests.processes import HOOKWISE, Logged, environment

COMPLETED = Logged.of("event_completed", event="pull_request", event_action="opened")
HANDLING = Logged.of("event_handling", event="pull_request", event_action="opened")

TOTAL = 2000
# SIGKILL once this many deliveries were acknowledged: about half are still to send.
KILL_AFTER = TOTAL // 2
# GitHub sends deliveries in parallel; this many are in flight when the kill comes.
IN_FLIGHT = 32
# The redeliver command asks GitHub once per lost delivery, one request at a time (GitHub's
# rule): about a thousand requests, 24 s on a quiet machine, near a minute on a loaded one. A
# bound on a hang, not a speed test.
REDELIVER_TIMEOUT = 4 * STEP_TIMEOUT


async def redeliver_cli(dsn: str, fake: FakeGitHub) -> tuple[int, str, str]:
    env = environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        GITHUB_API_URL=fake.url,
        GITHUB_APP_ID=str(fake.app_id),
        GITHUB_PRIVATE_KEY=fake.private_key_pem,
        # The fake keeps no secondary limit: a thousand requests a second apart would be 17 min.
        HOOKWISE_GITHUB_WRITE_INTERVAL="0",
    )
    process = await asyncio.create_subprocess_exec(
        HOOKWISE, "redeliver", "--since", "1h", env=env, stdout=-1, stderr=-1
    )
    out, err = await asyncio.wait_for(process.communicate(), REDELIVER_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sigkill_mid_load_loses_nothing_acknowledged(
    dsn: str, db: asyncpg.Connection, fake_github: FakeGitHub, figures: Figures
) -> None:
    payloads: list[dict[str, Any]] = [json.loads(opened(n)) for n in range(1, TOTAL + 1)]
    port = free_port()
    server, url = await serve("--no-worker", env=server_env(dsn, port))
    fake_github.hook_url = f"{url}/webhooks/github"
    acknowledged = 0
    slots = asyncio.Semaphore(IN_FLIGHT)
    started = time.monotonic()
    killed_at: float | None = None

    async def send(payload: dict[str, Any]) -> Delivery:
        nonlocal acknowledged, killed_at
        async with slots:
            delivery = await fake_github.deliver("pull_request", payload)
        if 200 <= delivery.status_code < 300:
            acknowledged += 1
            if acknowledged == KILL_AFTER:
                server.process.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
        return delivery

    try:
        sent = await asyncio.wait_for(asyncio.gather(*map(send, payloads)), STEP_TIMEOUT)
    finally:
        server.kill()
    assert killed_at is not None
    assert server.process.returncode == -signal.SIGKILL
    finished = time.monotonic()

    acked = {d.guid for d in sent if 200 <= d.status_code < 300}
    failed = {d.guid for d in sent if d.status_code == 0}
    assert {d.status_code for d in sent} <= {0, 202}, "only 202 or no answer"
    stored = {
        r["delivery_id"] for r in await db.fetch("SELECT delivery_id FROM integration_events")
    }
    assert acked <= stored, f"{len(acked - stored)} acknowledged deliveries are not stored"
    unacknowledged_but_stored = stored - acked
    assert unacknowledged_but_stored <= failed
    figures(
        f"sent {TOTAL} deliveries ({IN_FLIGHT} in flight) in {finished - started:.1f} s;"
        f" SIGKILL after {KILL_AFTER} acknowledged, {killed_at - started:.1f} s in"
    )
    figures(
        f"after the kill: 2xx {len(acked)}, no answer {len(failed)}, rows {len(stored)}"
        f" (acknowledged and stored {len(acked & stored)}, acknowledged and missing"
        f" {len(acked - stored)}, stored without an answer {len(unacknowledged_but_stored)})"
    )

    port = free_port()
    restart = time.monotonic()
    # At DEBUG: the line that says an event began (event_handling), counted below.
    server, url = await serve(env=server_env(dsn, port, HOOKWISE_LOG_LEVEL="debug"))
    try:
        fake_github.hook_url = f"{url}/webhooks/github"
        up = time.monotonic()
        code, out, err = await redeliver_cli(dsn, fake_github)
        assert code == 0, err
        asked = out.count("redelivery requested")
        await asyncio.wait_for(fake_github.settled(), STEP_TIMEOUT)
        redelivered_at = time.monotonic()
        # Every event, stored before the kill or redelivered now, is handled once by the worker.
        done = await count_lines(server.lines, {COMPLETED: TOTAL})
        drained = time.monotonic()
        assert server.interrupt() == 0
    finally:
        server.kill()

    redelivered = [d for d in fake_github.deliveries if d.redelivery]
    assert asked == len(failed - stored), out
    assert {d.guid for d in redelivered} == failed - stored
    assert all(d.status_code == 202 for d in redelivered)
    # GitHub's view: every GUID has an attempt that succeeded, but those committed in the instant
    # before the kill: GitHub shows them failed, and redeliver rightly leaves them, being stored.
    delivered = {d.guid for d in fake_github.deliveries if 200 <= d.status_code < 300}
    assert delivered == {d.guid for d in sent} - unacknowledged_but_stored
    rows = await db.fetch(
        "SELECT status, attempts, count(*) AS n FROM integration_events GROUP BY 1, 2"
    )
    assert [tuple(r) for r in rows] == [("completed", 1, TOTAL)]
    assert await db.fetchval("SELECT count(DISTINCT delivery_id) FROM integration_events") == TOTAL
    assert await db.fetchval("SELECT count(*) FROM pull_requests") == TOTAL
    assert await db.fetchval("SELECT count(*) FROM pr_state_history") == TOTAL
    handled = HANDLING.count(server.log)
    assert handled == TOTAL
    figures(
        f"hookwise redeliver asked for {asked} (no answer {len(failed)} minus"
        f" {len(failed & stored)} stored); redelivered 202: {len(redelivered)}"
    )
    figures(
        f"restart to listening {up - restart:.1f} s; redeliver command and redeliveries"
        f" {redelivered_at - up:.1f} s; all {TOTAL} handled {drained - up:.1f} s after listening"
    )
    figures(
        f"after restart: rows {TOTAL}, completed with attempts=1 {TOTAL}, handled"
        f" {handled} times, completed log lines {done[COMPLETED]},"
        f" pull_requests {TOTAL}, pr_state_history {TOTAL}"
    )
