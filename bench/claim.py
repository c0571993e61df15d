"""What the claim costs PostgreSQL as the backlog grows, and with one hot pull request.

    python bench/claim.py [--events 2000] [--prs 500] [--spread 16] [--batch 16] [--walk 256]
                          [--no-drain]

Stores `--events` deliveries with hookwise's own batch INSERT (app/store/events.store_many),
shaped as bench/dispatch.py sends them: each pull request gets opened, synchronize, check_run
created and completed (each with its serial keys), `--spread` pull requests interleaved step by
step. `--prs 1` puts every event on one pull request (a hot key). Then:

- the claim statement (app/queue.CLAIM) at the full backlog under EXPLAIN (ANALYZE, BUFFERS),
  rolled back, and its plan's execution time and buffers;
- unless --no-drain, a drain with no handlers: claim_many (`--batch`) then finish_many, until
  nothing is due; the claim's ms per call (mean, p50, p99, max) and the drain's events/s.

PostgreSQL is DATABASE_URL (a database of its own, emptied first: every table this benchmark
writes is truncated) when set, else an embedded server in a temporary directory. Timing is
reported, never judged.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, sys.path starts at bench/; `app` is in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack

import asyncpg

from app import queue
from app.deliveries import Delivery
from app.serial import keys
from app.store import bodies, events, migrations
from app.store.server import embedded_server
from app.store.statuses import EventStatus

PAYLOAD = Path(__file__).resolve().parent.parent / "tests" / "payloads" / "pull_request.opened.json"
REPOSITORY = 4242
STEPS = (
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("check_run", "created"),
    ("check_run", "completed"),
)


def deliveries(count: int, prs: int, spread: int) -> list[Delivery]:
    """`count` deliveries in arrival order: groups of `spread` pull requests, each step across
    the group before the next; with fewer pull requests than count/4, each PR's steps repeat."""
    rounds = -(-count // (prs * len(STEPS)))
    out: list[Delivery] = []
    for round_ in range(rounds):
        for first in range(0, prs, spread):
            group = range(first, min(first + spread, prs))
            for step, (event, action) in enumerate(STEPS):
                for number in group:
                    sha = f"{number:08x}{round_:08x}{max(step, 1):04x}"
                    serial = keys(
                        "github",
                        event,
                        repository=REPOSITORY,
                        pull_number=number if event == "pull_request" else None,
                        pull_head_sha=sha if event == "pull_request" else None,
                        run_head_sha=sha if event == "check_run" else None,
                        run_pull_numbers=[number] if event == "check_run" else (),
                    )
                    headers = {"x-github-event": event, "x-github-hook-id": "1"}
                    out.append(
                        Delivery(
                            "github",
                            "1",
                            str(uuid.uuid4()),
                            event,
                            action,
                            headers,
                            b"",
                            serial_keys=serial,
                        )
                    )
    return out[:count]


async def load(conn: asyncpg.Connection, opts: argparse.Namespace) -> None:
    await migrations.migrate(conn)
    await conn.execute("TRUNCATE integration_events, integrations CASCADE")
    integration = await conn.fetchval(
        "INSERT INTO integrations (name, type) VALUES ('github', 'github') RETURNING id"
    )
    packed = bodies.pack(PAYLOAD.read_bytes())
    todo = deliveries(opts.events, opts.prs, opts.spread)
    started = time.monotonic()
    for at in range(0, len(todo), 1000):
        chunk = [events.Incoming(integration, d, packed) for d in todo[at : at + 1000]]
        await events.store_many(conn, chunk)
    print(
        f"stored {len(todo)} events ({opts.prs} PRs, {opts.spread} interleaved)"
        f" in {time.monotonic() - started:.1f} s"
    )


async def explain(conn: asyncpg.Connection, opts: argparse.Namespace) -> None:
    tx = conn.transaction()
    await tx.start()
    try:
        plan = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + queue.CLAIM,
            300.0,
            opts.batch,
            queue.HOLD_BACK,
            queue.BATCH_BYTES,
            opts.walk,
        )
    finally:
        await tx.rollback()
    lines = [r[0] for r in plan]
    if opts.plan:
        print("\n".join(lines))
    top_buffers = next((line.strip() for line in lines if "Buffers:" in line), "")
    print(f"EXPLAIN ANALYZE of the claim at {opts.events} queued: {lines[-1].strip()}")
    print(f"  {top_buffers}")


async def drain(conn: asyncpg.Connection, opts: argparse.Namespace) -> None:
    took: list[float] = []
    done = 0
    started = time.monotonic()
    while True:
        began = time.monotonic()
        claimed = await queue.claim_many(conn, lease=300.0, limit=opts.batch, walk=opts.walk)
        took.append((time.monotonic() - began) * 1000)
        if not claimed:
            break
        async with conn.transaction():
            done += await queue.finish_many(conn, [(c.row, EventStatus.COMPLETED) for c in claimed])
    elapsed = time.monotonic() - started
    ordered = sorted(took)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"drain: {done} events in {elapsed:.2f} s ({done / elapsed:.0f}/s), {len(took)} claims:"
        f" mean {statistics.fmean(took):.2f} ms, p50 {statistics.median(took):.2f},"
        f" p99 {p99:.2f}, max {ordered[-1]:.2f}"
    )


async def run(dsn: str, opts: argparse.Namespace) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await load(conn, opts)
        await explain(conn, opts)
        if not opts.no_drain:
            await drain(conn, opts)
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--prs", type=int, default=500)
    parser.add_argument("--spread", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16, help="claim limit (16)")
    parser.add_argument(
        "--walk", type=int, default=queue.WALK, help=f"rows a claim walks at most ({queue.WALK})"
    )
    parser.add_argument("--no-drain", action="store_true")
    parser.add_argument("--plan", action="store_true", help="print the whole plan")
    opts = parser.parse_args()
    with ExitStack() as stack:
        dsn = os.environ.get("DATABASE_URL")
        if not dsn:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hookwise-claim-"))
            dsn = stack.enter_context(embedded_server(Path(tmp) / "pgdata"))
        asyncio.run(run(dsn, opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
