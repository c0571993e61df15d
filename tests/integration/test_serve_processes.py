"""`hookwise serve --workers N`: several web processes on one port, a worker process beside
them, one /metrics that is whole whichever process answers, and a clean stop of them all."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import asyncpg
import httpx

from app.metrics import merge
from tests.conftest import GITHUB_SECRET
from tests.harness import free_port
from tests.processes import Logged, Served, environment, record
from tests.signing import github_headers

DELIVERIES = 12


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


PAYLOAD = Path(__file__).parents[1] / "payloads" / "pull_request.opened.json"


def serve_environment(dsn: str, port: int, **more: str) -> dict[str, str]:
    """`serve` on `port` with the test database and secret, logging at INFO, plus `more`."""
    return environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        PORT=str(port),
        HOOKWISE_LOG_LEVEL="info",
        **more,
    )


async def test_two_web_processes_share_the_port_and_metrics_stay_whole(
    dsn: str, db: asyncpg.Connection
) -> None:
    port = free_port()
    served = Served("--workers", "2", env=serve_environment(dsn, port))
    try:
        served.wait_for("processes_started", web=2, workers=1)
        # The three processes start side by side: their lines come in any order.
        wanted = [Logged.of("web_process_listening")] * 2 + [Logged.of("worker_started")]
        # Ingest first: the worker process runs at HOOKWISE_WORKER_NICE (10), the web ones not;
        # its backends stay as they are, the database not being the embedded one.
        wanted.append(Logged.of("worker_priority", nice=10, backends=False))
        pids: dict[str, list[int]] = {"worker_priority": [], "web_process_listening": []}
        while wanted:
            line = served.lines.get(timeout=60)
            assert line is not None, "hookwise exited"
            found = record(line) or {}
            pids.get(found.get("action", ""), []).append(found.get("pid", 0))
            wanted = [w for i, w in enumerate(wanted) if i != _first(wanted, line)]
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids["worker_priority"]] == [10]
        assert [os.getpriority(os.PRIO_PROCESS, p) for p in pids["web_process_listening"]] == [
            ours,
            ours,
        ]
        url = f"http://127.0.0.1:{port}"
        body = PAYLOAD.read_bytes()
        for _ in range(DELIVERIES):
            headers = github_headers(body, "pull_request", delivery=str(uuid.uuid4()))
            # A connection each: the kernel spreads new connections across the processes.
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"{url}/webhooks/github", content=body, headers=headers
                )
            assert response.status_code == 202
        for _ in range(DELIVERIES):
            served.wait_for(
                "event_completed", event="pull_request", event_action="opened", timeout=120
            )
        scrapes = []
        for _ in range(4):
            async with httpx.AsyncClient() as client:
                scrapes.append((await client.get(f"{url}/metrics")).text)
        assert served.stop(signal.SIGTERM) == 0
    finally:
        served.kill()
    for text in scrapes:
        # Received by the web processes, handled by the worker process: all in every scrape.
        assert metric(text, "hookwise_deliveries_received_total") == DELIVERIES
        assert metric(text, "hookwise_events_processed_total") == DELIVERIES
        assert text.count("# TYPE hookwise_deliveries_received_total ") == 1
    assert await db.fetchval("SELECT count(*) FROM integration_events") == DELIVERIES
    assert Logged.of("server_stopped", port=port).count(served.log) == 2


def test_merge_sums_counters_and_histograms_and_keeps_the_lowest_gauge() -> None:
    one = (
        "# HELP c_total C.\n# TYPE c_total counter\n"
        'c_total{a="x"} 2\n'
        "# HELP h H.\n# TYPE h histogram\n"
        'h_bucket{le="1"} 1\nh_sum 0.5\nh_count 1\n'
        "# HELP g G.\n# TYPE g gauge\n"
        'g{i="1"} 40\n'
    )
    two = (
        "# HELP c_total C.\n# TYPE c_total counter\n"
        'c_total{a="x"} 3\nc_total{a="y"} 1\n'
        "# HELP h H.\n# TYPE h histogram\n"
        'h_bucket{le="1"} 2\nh_sum 1.25\nh_count 2\n'
        "# HELP g G.\n# TYPE g gauge\n"
        'g{i="1"} 30\n'
    )
    assert merge([one, two]).splitlines() == [
        "# HELP c_total C.",
        "# TYPE c_total counter",
        'c_total{a="x"} 5',
        'c_total{a="y"} 1',
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1"} 3',
        "h_sum 1.75",
        "h_count 3",
        "# HELP g G.",
        "# TYPE g gauge",
        'g{i="1"} 30',
    ]


def _first(wanted: list[Logged], line: str) -> int:
    """The index of the first of `wanted` that `line` is; -1 for none."""
    return next((i for i, logged in enumerate(wanted) if logged.matches(line)), -1)


async def test_one_web_process_with_its_worker_apart_at_a_lower_priority(
    dsn: str, db: asyncpg.Connection
) -> None:
    port = free_port()
    served = Served("--workers", "1", env=serve_environment(dsn, port, HOOKWISE_WORKER_APART="1"))
    try:
        served.wait_for("processes_started", web=1, workers=1)
        web = served.wait_for("web_process_listening")
        body = PAYLOAD.read_bytes()
        headers = github_headers(body, "pull_request", delivery=str(uuid.uuid4()))
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers
            )
        assert response.status_code == 202
        served.wait_for("event_completed", event="pull_request", event_action="opened")
        # Logged by the worker process as it started, in whatever order with the web's lines.
        [worker] = [
            found
            for found in map(record, served.log)
            if Logged.of("worker_priority", nice=10, backends=False).matches(found)
        ]
        assert worker is not None
        assert os.getpriority(os.PRIO_PROCESS, worker["pid"]) == 10
        assert os.getpriority(os.PRIO_PROCESS, web["pid"]) == os.getpriority(os.PRIO_PROCESS, 0)
        assert served.stop(signal.SIGTERM) == 0
    finally:
        served.kill()
    assert await db.fetchval("SELECT status FROM integration_events") == "completed"
