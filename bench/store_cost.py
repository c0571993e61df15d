"""What storing a delivery costs PostgreSQL: a 25 KB pull_request body kept raw vs deflated.

    python bench/store_cost.py [--seconds 5] [--batch 16] [--writers 2]

Runs hookwise's own batch INSERT (app/store/events.store_many) in a loop against a fresh
embedded PostgreSQL, with no HTTP in the way, and reports rows per second and the CPU time the
PostgreSQL processes spent per row (from /proc, so Linux only), once with every body stored as
received and once deflated as hookwise stores it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from app.deliveries import Delivery
from app.store import bodies, events, migrations
from app.store.server import embedded_server

PAYLOAD = Path(__file__).resolve().parent.parent / "tests" / "payloads" / "pull_request.opened.json"
HEADERS = {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/bench",
    "x-github-event": "pull_request",
    "x-github-hook-id": "1",
}


def postgres_cpu_seconds(postmaster: int) -> float:
    """CPU time of the postmaster and all its children (backends, WAL writer, checkpointer)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def batch(size: int, body: bytes, packed: bodies.Packed) -> list[events.Incoming]:
    return [
        events.Incoming(
            1,
            Delivery("github", "1", str(uuid.uuid4()), "pull_request", "opened", HEADERS, body),
            packed,
        )
        for _ in range(size)
    ]


async def measure(
    pool: asyncpg.Pool, postmaster: int, packed: bodies.Packed, opts: argparse.Namespace
) -> tuple[float, float]:
    body = PAYLOAD.read_bytes()
    rows = 0
    deadline = time.monotonic() + opts.seconds

    async def writer() -> None:
        nonlocal rows
        async with pool.acquire() as conn:
            while time.monotonic() < deadline:
                await events.store_many(conn, batch(opts.batch, body, packed))
                rows += opts.batch

    cpu, started = postgres_cpu_seconds(postmaster), time.monotonic()
    await asyncio.gather(*(writer() for _ in range(opts.writers)))
    elapsed = time.monotonic() - started
    return rows / elapsed, (postgres_cpu_seconds(postmaster) - cpu) / rows * 1e6


async def run(dsn: str, postmaster: int, opts: argparse.Namespace) -> None:
    conn = await asyncpg.connect(dsn)
    await migrations.migrate(conn)
    await conn.execute("INSERT INTO integrations (name, type) VALUES ('github', 'github')")
    await conn.close()
    body = PAYLOAD.read_bytes()
    kinds = {"raw": bodies.Packed(bodies.IDENTITY, body), "deflated": bodies.pack(body)}
    print(f"{len(body):,}-byte body, batches of {opts.batch}, {opts.writers} writers")
    pool = await asyncpg.create_pool(dsn, min_size=opts.writers, max_size=opts.writers)
    try:
        for name, packed in kinds.items():
            rate, cost = await measure(pool, postmaster, packed, opts)
            print(
                f"{name:9s} {len(packed.data):7,} bytes stored: {rate:7.0f} rows/s,"
                f" PostgreSQL {cost:4.0f} µs CPU per row"
            )
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--writers", type=int, default=2)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hookwise-store-cost-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        with embedded_server(pgdata) as dsn:
            postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
            asyncio.run(run(dsn, postmaster, opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
