"""Drill: someone floods ingest with junk while GitHub keeps delivering (issue 22).

`hookwise serve --no-worker` as a real process with the default budget for bodies in memory
(HOOKWISE_MAX_INFLIGHT_BYTES, 64 MiB). At once: 100 forged 25 MB requests, 1,000 connections
trickling a body a byte a second, and signed deliveries at 50 a second. Every signed delivery
is answered 202 or 503, and each 503 is sent again until stored, as `hookwise redeliver` would;
the server's peak resident memory stays within its budget over the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg

from app.settings import Settings
from tests.drills.conftest import Figures
from tests.drills.raw_http import RawHTTP
from tests.drills.support import STEP_TIMEOUT, rss_kb, serve, server_env
from tests.fixtures import github_example
from tests.harness import free_port
from tests.signing import github_headers

FORGED = 100
FORGED_SIZE = 25 * 1024 * 1024
SLOW = 1_000
SIGNED_PER_SECOND = 50
# Long enough that every slow connection outlasts the body timeout.
SECONDS = 12.0
BODY_TIMEOUT = 10.0
SEND_CHUNK = 256 * 1024
PR_BODY = json.dumps(github_example("pull_request", "opened")).encode()
# What the default budget allows for bodies in memory; uvicorn's own read buffer (64 KiB, plus
# one socket read of up to 256 KiB, per connection with unread body) comes on top.
BUDGET = Settings().web.max_inflight_bytes


def peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(f"no VmHWM for process {pid}")


def request_head(headers: dict[str, str], length: int) -> bytes:
    lines = ["POST /webhooks/github HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def status_of(reader: asyncio.StreamReader) -> str:
    line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT)
    return line.split()[1].decode() if line.startswith(b"HTTP/1.1 ") else "closed"


async def forged(port: int, body: memoryview, answers: Counter[str]) -> None:
    """One forged 25 MB request, sent as fast as the server reads it."""
    headers = github_headers(b"not this body", "push")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_head(headers, len(body)))
        for start in range(0, len(body), SEND_CHUNK):
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(body[start : start + SEND_CHUNK])
            await writer.drain()
        answers[await status_of(reader)] += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        # The server answered 503 before reading and closed while this client still sent.
        answers["closed while sending"] += 1
    finally:
        writer.close()


async def slow(port: int, answers: Counter[str], stop: asyncio.Event) -> None:
    """A connection that declares a delivery's length and sends a byte of it a second."""
    headers = github_headers(PR_BODY, "pull_request", secret="forged")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        answers[f"connect failed: {type(exc).__name__}"] += 1
        return
    try:
        writer.write(request_head(headers, len(PR_BODY)))
        for byte in PR_BODY:
            if reader.at_eof() or stop.is_set():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            # Pacing, not synchronisation: this client is slow on purpose.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        answers[await status_of(reader)] += 1
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        answers["closed"] += 1
    finally:
        writer.close()


async def signed(port: int, until: float) -> tuple[list[str], Counter[str], list[float]]:
    """Signed deliveries at SIGNED_PER_SECOND until `until`; each 503 sent again until stored."""
    # One request at a time per connection: a delivery takes a free one.
    idle: asyncio.Queue[RawHTTP] = asyncio.Queue()
    for _ in range(16):
        idle.put_nowait(RawHTTP("127.0.0.1", port))
    delivered: list[str] = []
    answers: Counter[str] = Counter()
    latencies: list[float] = []

    async def deliver(delivery: str) -> None:
        headers = github_headers(PR_BODY, "pull_request", delivery=delivery)
        for _ in range(100):
            client = await idle.get()
            started = time.perf_counter()
            try:
                answer = await client.request("POST", "/webhooks/github", headers.items(), PR_BODY)
            finally:
                idle.put_nowait(client)
            latencies.append(time.perf_counter() - started)
            answers[str(answer.status) if answer.status else answer.error] += 1
            if answer.status in (200, 202):
                delivered.append(delivery)
                return
        raise AssertionError(f"delivery {delivery} never stored")

    sent: list[asyncio.Task[None]] = []
    start = time.monotonic()
    while time.monotonic() < until:
        sent.append(asyncio.create_task(deliver(str(uuid.uuid4()))))
        # Pacing, not synchronisation: the offered load is the thing under test.
        await asyncio.sleep(max(start + len(sent) / SIGNED_PER_SECOND - time.monotonic(), 0))
    await asyncio.gather(*sent)
    while not idle.empty():
        await idle.get_nowait().close()
    return delivered, answers, latencies


async def test_flood_of_junk_keeps_memory_in_budget_and_deliveries_stored(
    dsn: str, db: asyncpg.Connection, figures: Figures
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW + FORGED + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    port = free_port()
    env = server_env(dsn, port, HOOKWISE_BODY_TIMEOUT=str(BODY_TIMEOUT))
    server, _ = await serve("--no-worker", env=env)
    pid = server.process.pid
    warm = RawHTTP("127.0.0.1", port)
    try:
        for _ in range(50):  # warm: code paths run once, the pool filled
            headers = github_headers(PR_BODY, "pull_request")
            assert (
                await warm.request("POST", "/webhooks/github", headers.items(), PR_BODY)
            ).status == 202
        await warm.close()
        baseline = rss_kb(pid)
        body = memoryview(b"{" + b" " * (FORGED_SIZE - 2) + b"}")
        forged_answers: Counter[str] = Counter()
        slow_answers: Counter[str] = Counter()
        stop = asyncio.Event()
        started = time.monotonic()
        slow_tasks = [asyncio.create_task(slow(port, slow_answers, stop)) for _ in range(SLOW)]
        forged_tasks = [
            asyncio.create_task(forged(port, body, forged_answers)) for _ in range(FORGED)
        ]
        delivered, signed_answers, latencies = await asyncio.wait_for(
            signed(port, started + SECONDS), STEP_TIMEOUT
        )
        await asyncio.wait_for(asyncio.gather(*forged_tasks), STEP_TIMEOUT)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*slow_tasks), STEP_TIMEOUT)
        elapsed = time.monotonic() - started
        peak = peak_kb(pid)
        scraper = RawHTTP("127.0.0.1", port)
        metrics = await scraper.request("GET", "/metrics")
        await scraper.close()
        assert server.interrupt() == 0
    finally:
        server.kill()

    stored = await db.fetchval(
        "SELECT count(*) FROM integration_events WHERE delivery_id = ANY($1::text[])", delivered
    )
    refusals = [
        line
        for line in metrics.body.decode().splitlines()
        if line.startswith("hookwise_webhook_refusals_total")
    ]
    latencies.sort()
    figures(
        f"{elapsed:.1f} s: {FORGED} forged 25 MB requests {dict(forged_answers)};"
        f" {SLOW} slow bodies {dict(slow_answers)}"
    )
    figures(
        f"signed: {len(delivered)} deliveries ({len(delivered) / SECONDS:.0f}/s),"
        f" answers {dict(signed_answers)}, stored {stored};"
        f" p50 {statistics.median(latencies) * 1000:.1f} ms,"
        f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    figures(
        f"server RSS baseline {baseline / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB"
        f" (+{(peak - baseline) / 1024:.0f} MiB; budget {BUDGET >> 20} MiB)"
    )
    figures("; ".join(refusals))
    # Every one sent was stored (signed() fails a delivery that never is); the load was offered.
    assert stored == len(delivered) >= SIGNED_PER_SECOND * SECONDS / 2
    assert set(signed_answers) <= {"202", "503"}, signed_answers
    assert set(forged_answers) <= {"401", "503", "closed while sending"}, forged_answers
    # Each slow body was cut at the timeout; its client saw the 408, or the close after it when
    # it was writing its next byte just then.
    assert set(slow_answers) <= {"408", "closed"}, slow_answers
    assert f'reason="body_timeout"}} {SLOW}' in "\n".join(refusals)
    assert (peak - baseline) * 1024 <= BUDGET
