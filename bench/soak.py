"""Soak: a steady mixed load on `hookwise serve` for as long as asked, reported as it goes.

    python bench/soak.py [--duration 60] [--rate 100] [--every 10] [--connections 16]
                         [--seed 1] [--max-growth 0.2]

`hookwise serve` (web and worker in one process) runs as a child on a free 127.0.0.1 port, on
DATABASE_URL when set, else on its own embedded PostgreSQL in a temporary directory. The load is
open-loop: `--rate` requests a second spread over `--connections` keep-alive connections, each
sent on schedule whatever the answers before it took (a connection that falls behind sends at
once and counts as late). The mix, drawn with `--seed`:

- 80 %: pull requests going through opened, synchronize, check_run created and completed
  (the fixtures' payloads, about 20 KB each), 16 pull requests interleaved at a time;
- 8 %: push events (stored, then ignored: no handler);
- 6 %: a delivery sent before, again (200 duplicate: GitHub's redelivery);
- 6 %: forged (wrong signature: 401, nothing stored).

Every `--every` seconds one line: answers per second by kind, p50/p99 time to the answer (the
acknowledgement: stored and committed), how late the senders are, the queue as the database has
it (pending, processing, age of the oldest pending), and the server process's resident memory
(VmRSS), open sockets (/proc/PID/fd) and PostgreSQL backends. At the end: totals, whether every
acknowledged delivery is stored, and whether memory or connections grew from the first third of
the samples to the last.

An hour at the default rate stores about 360,000 events, some 8 GB in the database.

Exit status: 1 if an acknowledged delivery is missing, any answer was a 5xx or none came, the
queue did not drain within 60 s after the load, memory grew by more than --max-growth, or
sockets or PostgreSQL backends grew by more than 5; 2 if the soak could not run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, sys.path starts at bench/; the repository root holds `bench` and `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import statistics
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.deliveries import github_signature
from bench.dispatch import check_run_payload, new_scope, pull_request_payload
from bench.ingest import embedded_dsn, hookwise_server
from bench.servers import BenchError, memory_kb
from tests.drills.raw_http import RawHTTP

HOST = "127.0.0.1"
PATH = "/webhooks/github"
STEPS = (
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("check_run", "created"),
    ("check_run", "completed"),
)
INTERLEAVED = 16
DRAIN_TIMEOUT = 60.0
SOCKET_GROWTH = 5
QUEUE = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       extract(epoch FROM now() - min(received_at) FILTER (WHERE status = 'pending')) AS oldest
FROM integration_events WHERE status IN ('pending', 'processing')
"""
BACKENDS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""
STORED = "SELECT count(*) FROM integration_events WHERE delivery_id LIKE $1"


@dataclass(frozen=True)
class Options:
    duration: float
    rate: float
    every: float
    connections: int
    seed: int
    max_growth: float


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (60)")
    parser.add_argument("--rate", type=float, default=100, help="requests a second (100)")
    parser.add_argument("--every", type=float, default=10, help="seconds between reports (10)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    parser.add_argument("--seed", type=int, default=1, help="the mix's random seed (1)")
    parser.add_argument(
        "--max-growth", type=float, default=0.2, help="RSS growth that fails the run (0.2)"
    )
    args = parser.parse_args(argv)
    if min(args.duration, args.rate, args.every) <= 0 or args.connections < 1:
        parser.error("--duration, --rate, --every and --connections must be positive")
    return Options(
        args.duration, args.rate, args.every, args.connections, args.seed, args.max_growth
    )


# --- the mix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    kind: str  # pull_request, check_run, push, duplicate, forged
    delivery: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


class Mix:
    """The next request of the load, drawn with a seed."""

    def __init__(self, secret: str, seed: int) -> None:
        self.secret = secret.encode()
        self.random = random.Random(seed)
        self.scope = new_scope("soak")
        self.tag = self.scope.delivery_prefix()
        self.count = 0
        self.next_pull = 0
        # Pull requests under way, each with the index of its next step.
        self.open: deque[tuple[int, int]] = deque()
        self.recent: deque[Outgoing] = deque(maxlen=500)

    def signed(self, kind: str, event: str, payload: dict[str, Any]) -> Outgoing:
        self.count += 1
        body = json.dumps(payload).encode()
        delivery = f"{self.tag}{self.count}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/soak",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": github_signature(self.secret, body),
        }
        return Outgoing(kind, delivery, headers, body)

    def next(self) -> Outgoing:
        draw = self.random.random()
        if draw < 0.06 and self.recent:
            earlier = self.random.choice(self.recent)
            return Outgoing("duplicate", earlier.delivery, earlier.headers, earlier.body)
        if draw < 0.12:
            forged = self.signed("forged", "push", {"ref": "refs/heads/main", "forged": True})
            headers = forged.headers | {"X-Hub-Signature-256": "sha256=" + "0" * 64}
            return Outgoing("forged", forged.delivery, headers, forged.body)
        if draw < 0.20:
            payload = {
                "ref": "refs/heads/main",
                "after": secrets.token_hex(20),
                "repository": self.scope.repository,
                "installation": self.scope.installation,
            }
            outgoing = self.signed("push", "push", payload)
        else:
            outgoing = self.pull_request_step()
        self.recent.append(outgoing)
        return outgoing

    def pull_request_step(self) -> Outgoing:
        while len(self.open) < INTERLEAVED:
            self.open.append((self.next_pull, 0))
            self.next_pull += 1
        pull, step = self.open.popleft()
        if step + 1 < len(STEPS):
            self.open.append((pull, step + 1))
        event, action = STEPS[step]
        if event == "pull_request":
            payload = pull_request_payload(self.scope, pull, action)
        else:
            payload = check_run_payload(self.scope, pull, action)
        return self.signed(event, event, payload)


# --- what is measured ------------------------------------------------------------------------


@dataclass
class Window:
    """Answers since the last report."""

    started: float
    answers: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    late: int = 0
    lateness: float = 0.0


@dataclass
class Sample:
    at: float
    rss_kb: int
    sockets: int
    backends: int


@dataclass
class Totals:
    answers: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    # Deliveries answered 202 (stored) or 200 (already stored): what must be in the database.
    acknowledged: set[str] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)


def outcome(status: int) -> str:
    if status == 0:
        return "none"
    if status in (200, 202):
        return str(status)
    return f"{status // 100}xx"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(max(math.ceil(pct / 100 * len(ordered)), 1), len(ordered)) - 1]


def sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            continue
    return count


# --- the soak --------------------------------------------------------------------------------


class Soak:
    def __init__(self, opts: Options, port: int, pid: int, dsn: str, mix: Mix) -> None:
        self.opts, self.port, self.pid, self.dsn, self.mix = opts, port, pid, dsn, mix
        self.totals = Totals()
        self.window = Window(time.monotonic())
        self.started = time.monotonic()

    async def sender(self, client: RawHTTP, offset: float, until: float) -> None:
        interval = self.opts.connections / self.opts.rate
        due = self.started + offset
        while due < until:
            now = time.monotonic()
            if due > now:
                # Pacing the open loop: the load's shape, not a wait for the server.
                await asyncio.sleep(due - now)
            elif now - due > interval:
                self.window.late += 1
                self.window.lateness = max(self.window.lateness, now - due)
            outgoing = self.mix.next()
            sent = time.monotonic()
            answer = await client.request("POST", PATH, outgoing.headers.items(), outgoing.body)
            took = time.monotonic() - sent
            kind = outcome(answer.status)
            self.window.answers[kind] += 1
            self.totals.answers[kind] += 1
            if answer.status:
                self.window.latencies.append(took)
                self.totals.latencies.append(took)
            if answer.status in (200, 202) and outgoing.kind != "forged":
                self.totals.acknowledged.add(outgoing.delivery)
            due += interval

    async def report(self, conn: asyncpg.Connection) -> None:
        window, self.window = self.window, Window(time.monotonic())
        seconds = self.window.started - window.started
        queue = await conn.fetchrow(QUEUE)
        sample = Sample(
            at=self.window.started - self.started,
            rss_kb=memory_kb(self.pid),
            sockets=sockets(self.pid),
            backends=int(await conn.fetchval(BACKENDS)),
        )
        self.totals.samples.append(sample)
        answered = sum(window.answers.values())
        kinds = " ".join(f"{k} {v}" for k, v in sorted(window.answers.items()))
        oldest = queue["oldest"]
        print(
            f"t={sample.at:6.0f}s  {answered / seconds:6.1f} answers/s ({kinds})"
            f"  p50 {percentile(window.latencies, 50) * 1000:5.1f} ms"
            f"  p99 {percentile(window.latencies, 99) * 1000:6.1f} ms"
            f"  late {window.late} (max {window.lateness * 1000:.0f} ms)"
            f"  queue {queue['pending']} pending + {queue['processing']} processing,"
            f" oldest {float(oldest or 0):.1f} s"
            f"  RSS {sample.rss_kb / 1024:.1f} MB  sockets {sample.sockets}"
            f"  pg backends {sample.backends}",
            flush=True,
        )

    async def reporter(self, conn: asyncpg.Connection, until: float) -> None:
        while (now := time.monotonic()) < until:
            await asyncio.sleep(min(self.opts.every, until - now))
            await self.report(conn)

    async def drain(self, conn: asyncpg.Connection) -> float | None:
        """Seconds until nothing is pending or processing, or None after DRAIN_TIMEOUT."""
        started = time.monotonic()
        while time.monotonic() - started < DRAIN_TIMEOUT:
            queue = await conn.fetchrow(QUEUE)
            if queue["pending"] == 0 and queue["processing"] == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        return None

    async def run(self) -> bool:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            until = self.started + self.opts.duration
            clients = [RawHTTP(HOST, self.port) for _ in range(self.opts.connections)]
            spacing = 1 / self.opts.rate
            # The last report comes before the connections close: it samples the load, not
            # the end of it. Answers after it count in the totals only.
            await asyncio.gather(
                self.reporter(conn, until),
                *(self.sender(c, n * spacing, until) for n, c in enumerate(clients)),
            )
            for client in clients:
                await client.close()
            drained = await self.drain(conn)
            stored = int(await conn.fetchval(STORED, f"{self.mix.tag}%"))
        finally:
            await conn.close()
        return self.summary(drained, stored)

    def summary(self, drained: float | None, stored: int) -> bool:
        totals, opts = self.totals, self.opts
        answered = sum(totals.answers.values())
        print()
        print(
            f"soak: {opts.duration:.0f} s at {opts.rate:.0f}/s target over {opts.connections}"
            f" connections, seed {opts.seed}: {answered} answers"
            f" ({answered / opts.duration:.1f}/s), {dict(sorted(totals.answers.items()))}"
        )
        print(
            f"ack latency: p50 {percentile(totals.latencies, 50) * 1000:.1f} ms,"
            f" p99 {percentile(totals.latencies, 99) * 1000:.1f} ms,"
            f" max {max(totals.latencies, default=math.nan) * 1000:.1f} ms"
        )
        missing = len(totals.acknowledged) - stored
        print(
            f"stored: {stored} rows for {len(totals.acknowledged)} acknowledged deliveries"
            f" (missing {max(missing, 0)}); queue drained"
            + (f" {drained:.1f} s after the load" if drained is not None else " NOT within 60 s")
        )
        samples = totals.samples
        third = max(len(samples) // 3, 1)
        first, last = samples[:third], samples[-third:]

        def mean(values: list[int]) -> float:
            return statistics.fmean(values) if values else math.nan

        rss = (mean([s.rss_kb for s in first]), mean([s.rss_kb for s in last]))
        socks = (mean([s.sockets for s in first]), mean([s.sockets for s in last]))
        backs = (mean([s.backends for s in first]), mean([s.backends for s in last]))
        growth = rss[1] / rss[0] - 1 if rss[0] else math.nan
        rss_grew = growth > opts.max_growth
        sockets_grew = socks[1] - socks[0] > SOCKET_GROWTH
        backends_grew = backs[1] - backs[0] > SOCKET_GROWTH
        print(
            f"first third vs last third of {len(samples)} samples: RSS {rss[0] / 1024:.1f} ->"
            f" {rss[1] / 1024:.1f} MB ({growth:+.1%}: {'GREW' if rss_grew else 'flat'}),"
            f" sockets {socks[0]:.1f} -> {socks[1]:.1f} ({'GREW' if sockets_grew else 'flat'}),"
            f" pg backends {backs[0]:.1f} -> {backs[1]:.1f}"
            f" ({'GREW' if backends_grew else 'flat'})"
        )
        bad = totals.answers["5xx"] + totals.answers["none"]
        return not (
            missing > 0 or bad or drained is None or rss_grew or sockets_grew or backends_grew
        )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    secret = secrets.token_hex(16)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="hookwise-soak-") as tmp,
            hookwise_server(secret, Path(tmp)) as server,
        ):
            workdir = Path(tmp)
            dsn = os.environ.get("DATABASE_URL") or embedded_dsn(workdir / "data" / "pgdata")
            port = int(server.base_url.rsplit(":", 1)[1])
            print(
                f"soak: hookwise serve (pid {server.process.pid}) at {server.base_url};"
                f" reporting every {opts.every:.0f} s",
                flush=True,
            )
            soak = Soak(opts, port, server.process.pid, dsn, Mix(secret, opts.seed))
            ok = asyncio.run(soak.run())
        print(f"server exit code: {server.exit_code}")
    except BenchError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if ok and server.exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
