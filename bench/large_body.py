"""Memory of one 25 MB delivery: `hookwise serve`'s peak RSS while it stores the largest body
GitHub sends.

    python bench/large_body.py [--size BYTES] [--no-worker]

Starts hookwise as bench/ingest.py does (its own embedded PostgreSQL in a temporary directory),
reads its resident set size once it is ready, sends one signed pull_request whose description is
padded to --size bytes (default: 26,214,000, just under HOOKWISE_MAX_BODY_BYTES), and reports the
answer, the process's peak RSS (VmHWM) against the RSS before, and the stored row, whose bytes are
compared with what was sent. Exit status: 1 if the delivery was not acknowledged or the stored
body differs, 2 if the benchmark could not run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, sys.path starts at bench/; the repository root holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import random
import secrets
import tempfile
import time
import uuid

import asyncpg
import httpx

from app.deliveries import github_signature
from app.store import bodies
from bench.ingest import PAYLOAD, STATIC_HEADERS, hookwise_server, rows_dsn
from bench.servers import BenchError, memory_kb

DEFAULT_SIZE = 26_214_000
# Words rather than one repeated letter: prose-like text, which deflates about as well as the
# JSON GitHub sends, not a thousand times better.
WORDS = [
    "the",
    "of",
    "fix",
    "add",
    "test",
    "build",
    "main",
    "branch",
    "merge",
    "update",
    "commit",
    "review",
    "check",
    "run",
    "error",
]


def padded_payload(size: int) -> bytes:
    payload = json.loads(PAYLOAD.read_bytes())
    base = len(json.dumps(payload).encode())
    rng = random.Random(2026)
    text: list[str] = []
    length = 0
    while length < size - base:
        word = rng.choice(WORDS)
        text.append(word)
        length += len(word) + 1
    payload["pull_request"]["body"] = " ".join(text)[: max(size - base, 0)]
    return json.dumps(payload).encode()


async def stored_body(dsn: str, delivery: str) -> tuple[str, int, bytes] | None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await conn.fetchrow(
            "SELECT body_encoding, length(body) AS size, body FROM integration_events"
            " WHERE delivery_id = $1",
            delivery,
        )
    finally:
        await conn.close()
    if row is None:
        return None
    return row["body_encoding"], row["size"], bodies.unpack(row["body_encoding"], row["body"])


def run(size: int, no_worker: bool) -> int:
    secret = secrets.token_hex(16)
    body = padded_payload(size)
    delivery = str(uuid.uuid4())
    headers = {
        **STATIC_HEADERS,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": github_signature(secret.encode(), body),
    }
    with tempfile.TemporaryDirectory(prefix="hookwise-large-") as tmp:
        workdir = Path(tmp)
        with hookwise_server(secret, workdir, no_worker=no_worker) as server:
            pid = server.process.pid
            before = memory_kb(pid)
            started = time.monotonic()
            response = httpx.post(server.webhook_url, content=body, headers=headers, timeout=120)
            seconds = time.monotonic() - started
            peak, after = memory_kb(pid, "VmHWM"), memory_kb(pid)
            row = asyncio.run(stored_body(rows_dsn(workdir), delivery))
    print(f"one delivery of {len(body):,} bytes: {response.status_code} in {seconds:.2f} s")
    print(
        f"hookwise RSS: {before / 1024:.1f} MB before, peak {peak / 1024:.1f} MB"
        f" (+{(peak - before) / 1024:.1f} MB), {after / 1024:.1f} MB after"
    )
    if row is None:
        print("stored: no row")
        return 1
    encoding, stored_size, data = row
    print(f"stored: {stored_size:,} bytes as {encoding}; same bytes as sent: {data == body}")
    return 0 if response.status_code == 202 and data == body else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="body bytes (26214000)")
    parser.add_argument("--no-worker", action="store_true", help="hookwise serve --no-worker")
    args = parser.parse_args(argv)
    try:
        return run(args.size, args.no_worker)
    except BenchError as exc:
        print(f"large_body: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
