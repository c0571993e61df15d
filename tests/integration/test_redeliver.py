"""hookwise redeliver: what GitHub could not hand over while hookwise was down comes back once."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

from app import redeliver
from app.serving import default_router
from app.worker import Worker
from tests.conftest import GITHUB_SECRET, with_github
from tests.fakes.github import FakeGitHub
from tests.harness import free_port, running_hookwise
from tests.integration.test_worker_processes import opened
from tests.processes import HOOKWISE, environment


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/webhooks/github"


async def cli(*args: str, dsn: str, fake: FakeGitHub) -> tuple[int, str, str]:
    env = environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        GITHUB_API_URL=fake.url,
        GITHUB_APP_ID=str(fake.app_id),
        GITHUB_PRIVATE_KEY=fake.private_key_pem,
        HOOKWISE_GITHUB_RETRY_SECONDS="0.01",
        HOOKWISE_GITHUB_WRITE_INTERVAL="0.01",
    )
    process = await asyncio.create_subprocess_exec(HOOKWISE, *args, env=env, stdout=-1, stderr=-1)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def miss(fake: FakeGitHub, count: int) -> list[str]:
    """GitHub tries to deliver `count` pull_request events while nothing listens."""
    fake.hook_url = closed_url()
    guids = []
    for number in range(1, count + 1):
        delivery = await fake.deliver("pull_request", json.loads(opened(number)))
        assert delivery.status_code == 0
        guids.append(delivery.guid)
    return guids


@asynccontextmanager
async def hookwise_up(settings, dsn, fake: FakeGitHub):
    async with running_hookwise(settings, dsn) as hookwise:
        fake.hook_url = f"{hookwise.url}/webhooks/github"
        worker = Worker(hookwise.ctx, default_router())
        task = asyncio.create_task(worker.run())
        try:
            yield hookwise, worker
        finally:
            worker.stop()
            await task


def attempts_asked(fake: FakeGitHub) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/attempts"))


async def test_missed_deliveries_are_redelivered_and_processed_once(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    guids = await miss(fake_github, 20)
    configured = with_github(settings, fake_github)
    async with hookwise_up(configured, dsn, fake_github) as (_, worker):
        dry = await cli("redeliver", "--since", "1h", "--dry-run", dsn=dsn, fake=fake_github)
        assert dry[0] == 0, dry[2]
        assert dry[1].splitlines()[-1].startswith("20 undelivered deliveries since")
        assert dry[1].count("would redeliver") == 20
        assert attempts_asked(fake_github) == 0

        code, out, err = await cli("redeliver", "--since", "1h", dsn=dsn, fake=fake_github)
        assert code == 0, err
        assert out.count("redelivery requested") == 20
        assert all(guid in out for guid in guids)
        await fake_github.settled()
        await asyncio.wait_for(worker.idle(wake=True), 60)

        again = await cli("redeliver", "--since", "1h", dsn=dsn, fake=fake_github)
        assert again[0] == 0, again[2]
        assert again[1].splitlines()[-1].startswith("0 undelivered deliveries")
    assert attempts_asked(fake_github) == 20
    rows = await db.fetch("SELECT delivery_id, status, attempts FROM integration_events")
    assert sorted(r["delivery_id"] for r in rows) == sorted(guids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("completed", 1)}
    assert await db.fetchval("SELECT count(*) FROM pull_requests") == 20


async def test_a_refused_redelivery_request_exits_1(settings, dsn, db, fake_github) -> None:
    await miss(fake_github, 2)
    fake_github.fail("POST", r"/app/hook/deliveries/\d+/attempts", status=422, times=1)
    code, out, _ = await cli("redeliver", "--max", "1", dsn=dsn, fake=fake_github)
    assert code == 1
    assert "failed:" in out
    assert out.splitlines()[-1].startswith("1 undelivered deliveries")


async def test_a_delivery_log_github_does_not_give_is_said_in_a_line(
    dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.fail("GET", "/app/hook/deliveries", status=401, times=5)
    code, out, err = await cli("redeliver", dsn=dsn, fake=fake_github)
    assert (code, out) == (1, "")
    assert err == ("hookwise: GitHub did not give its delivery log: BadRequest: Unauthorized\n")
    # Asking for none at all, or fewer, is a slip: refused before GitHub is asked anything.
    asked = len(fake_github.requests)
    for wrong in ("0", "-1"):
        code, _, err = await cli("redeliver", "--max", wrong, dsn=dsn, fake=fake_github)
        assert (code, err) == (2, "hookwise: --max must be at least 1\n")
    assert len(fake_github.requests) == asked


async def test_redeliver_without_a_github_app_is_a_usage_error(tmp_path) -> None:
    from tests.processes import hookwise

    result = hookwise("redeliver", env=environment(HOOKWISE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "GITHUB_APP_ID" in result.stderr


async def test_schedule_keeps_a_high_water_mark(settings, dsn, db, fake_github) -> None:
    await miss(fake_github, 3)
    configured = with_github(settings, fake_github)
    async with hookwise_up(configured, dsn, fake_github) as (hookwise, worker):
        github = hookwise.ctx.github
        assert github is not None
        first = await redeliver.scheduled_run(github, hookwise.ctx.pool)
        await fake_github.settled()
        second = await redeliver.scheduled_run(github, hookwise.ctx.pool)
        async with hookwise.ctx.pool.acquire() as conn:
            mark = await conn.fetchval(
                "SELECT config ->> 'redeliver_checked_until' FROM integrations"
                " WHERE name = 'github'"
            )
        await asyncio.wait_for(worker.idle(wake=True), 60)
    assert first is not None and [o.ok for o in first] == [True, True, True]
    assert second == []
    assert mark is not None
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 3
