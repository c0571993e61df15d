"""Dispatch: signed deliveries through ingest, the queue and the pull-request/check-run handlers.

    python bench/dispatch.py [--events 2000] [--concurrency 4] [--senders 16] [--spread 16]
                             [--mode both|live|backlog] [--poll-interval 5] [--web-processes 1]
                             [--reactions] [--model-delay 2] [--rate R]
                             [--warmup N] [--interval 0.5] [--pg-log] [--repeat R]

`hookwise serve --no-worker --workers 1` runs as a child process and receives every delivery
over HTTP, so ingest is the real path: signature, insert, commit, NOTIFY. One web process, as
when issue 18 set this bench's goals (serve had no --workers then): the bench measures the
queue, and one process answers ~2,000 deliveries a second, where a second on two cores only
adds cost: at 600/s the server took 0.53 cores with two, 0.44 with one (~150 µs a delivery),
and the lag p99 was higher in four runs of five. `--web-processes N` runs N, as
`serve --workers N`.
The worker is hookwise's own Worker, run in this process with the default handlers behind one
more handler, registered first, that notes when each event's handlers began. That is after the
claim, the event's locks and its batch's steps (the first statement of each event's handlers,
sent for the whole batch at once): the lag is how long a committed event waited before any
handler of it ran, i.e. handler start minus the row's received_at (PostgreSQL's now() at the
insert, which autocommits). Our clock and PostgreSQL's are compared once, so a DATABASE_URL on
another machine does not put clock skew into the lag.
Start-up's objects are frozen out of the collector before the load, as `hookwise serve` and
`hookwise worker` freeze theirs.

The load comes from a process of its own (bench/sender.py): a client in this process would share
the event loop with the worker and its time would pass for queue lag. Every request is built as
bytes, signed, before the clock starts and written over `--senders` keep-alive connections, one
request in flight on each; answers are parsed by httptools and each must be 202. The sender
costs a few percent of a core at 600 deliveries a second (the detail line says how much), where
httpx clients took most of one and could not offer more than ~350.

Each pull request k gets four deliveries: opened, synchronize (a new head commit, a minute
later), and check_run created then completed for that new head. `--spread` PRs are sent
together, each step across the group before the next step: one PR's deliveries keep their order
while neighbouring PRs interleave, as in a busy repository. `--spread 1` sends each PR's four back
to back, so the worker mostly waits on one PR's locks.

Two modes, each with its own repository, ids and delivery ids in the same database:
- live: the worker runs while the deliveries arrive; events/s is completed events over the time
  from the first POST to the worker going idle, and the lag is the lag under that load.
- backlog: everything is stored first, then the worker starts; events/s is the drain rate (worker
  start to idle). Its lag includes the wait for the worker to start at all.

PostgreSQL is DATABASE_URL when set, else an embedded server in a temporary directory, started
the way `hookwise serve` starts its own (durable commits), and deleted afterwards.

`--events` counts deliveries per mode, not pull requests.

`--rate R` offers R deliveries a second, evenly (delivery i is posted no earlier than i/R seconds
after the first), so live mode's lag is measured under a known load below the drain rate; without
it the connections post as fast as they are answered. A delivery whose connections are all busy
at its time is posted late, once one is free: the detail line says the rate offered and how late
deliveries were written (p50, p99, max), the ingest/s column what was answered.

What the figures leave out, for finding a stall: a line per `--interval` seconds from the
window's start (events received, events whose handlers began and their lag p50/p99/max,
transactions that completed events, the worker process's gc pauses, and the cores busy in the
worker's process and on the whole machine, which is shared); a `batches:` line (events per
transaction: rows one transaction finished share processed_at, its now()); a `CPU` line (the
worker, the server's and PostgreSQL's processes, the sender, the machine); a `gc` line.
`--pg-log` has the embedded server log checkpoints, autovacuum, lock waits and statements
over 20 ms, and prints its lines from the window with their time; and it samples
pg_stat_activity every 20 ms for what the busy backends wait for, shown per interval.
`--warmup N` first sends N deliveries of a scope of their own at `--rate` through the same
server, pool and database, handled by a worker of their own, and leaves them out of every
figure: the measured load then finds connections open and statements prepared. A running
hookwise pays those once per connection (the worker opens its own at start), so a warm-up
hides only what a process pays after its start: compare with and without.
`--repeat R` runs everything R times, each round from a fresh database, server and worker, and
ends with a line per mode: each round's lag p99 and events/s, and their medians. On this 2-core
machine rounds of one command differ by as much as most changes do (a live 600/s lag p99 of 81
to 125 ms): compare medians of several rounds, alternating the two trees.

`--reactions` turns AI review on: the worker gets a GitHub App (the fake GitHub, with the
repository and its pull requests) and a model (the fake Anthropic API answering each request
after `--model-delay` seconds), so each opened and synchronize starts a review execution. The
fakes run in this process, on the worker's event loop. events/s is then the state's rate:
completed events over the window to the last event's completion (processed_at), whatever the
executions still do; the executions' own figures follow.

Timing is reported, never judged. Exit status: 1 if a delivery was not answered 202, or an event
did not complete on its first attempt, or the server did not stop cleanly; 2 if the benchmark
could not run; 130 if interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, sys.path starts at bench/; `bench` and `tests` are in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import copy
import gc
import hashlib
import json
import logging
import math
import os
import re
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import (
    AbstractContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
    suppress,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import asyncpg

from app import logs
from app.cli import run as run_on_uvloop
from app.context import Context, open_context
from app.deliveries import github_signature
from app.router import HandlerContext, Router
from app.serving import default_router, freeze_startup_objects
from app.settings import Settings
from app.store import migrations
from app.store.server import embedded_server
from app.worker import Worker
from bench.sender import SPAWN, Outgoing, Sent, send
from bench.servers import (
    HOST,
    BenchError,
    Server,
    clean_environment,
    free_port,
    hookwise_command,
    running,
    warning_lines,
)
from tests.fixtures import github_example

# Deliveries answered after this long are not lost, but the run is not worth waiting for.
IDLE_TIMEOUT = 600.0
# Each pull request's deliveries, in the order GitHub sends them.
STEPS = (
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("check_run", "created"),
    ("check_run", "completed"),
)
OPENED_AT = datetime(2024, 1, 1, tzinfo=UTC)
BENCH_FILES = {"calc.py": "def add(a, b):\n    return a + b\n"}


@dataclass(frozen=True)
class Options:
    events: int
    concurrency: int
    senders: int
    spread: int
    modes: tuple[str, ...]
    poll_interval: float
    reactions: bool = False
    model_delay: float = 2.0
    # Deliveries a second the senders offer; 0: as fast as they are answered.
    rate: float = 0.0
    # Deliveries sent (at `rate`) and handled before the measured load, left out of the figures.
    warmup: int = 0
    # Seconds a line of the per-interval view covers; 0: no such view.
    interval: float = 0.5
    # The embedded server logs checkpoints, autovacuum and lock waits; its lines in the window
    # are printed.
    pg_log: bool = False
    # `hookwise serve --workers N` for ingest.
    web_processes: int = 1
    # Rounds, each with a database, server and worker of its own; then a line per mode.
    repeat: int = 1


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="deliveries per mode (2000)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker slots (4)")
    parser.add_argument(
        "--senders",
        type=int,
        default=16,
        help="keep-alive connections, one POST in flight each (16)",
    )
    parser.add_argument("--spread", type=int, default=16, help="PRs sent interleaved (16)")
    parser.add_argument("--mode", choices=("both", "live", "backlog"), default="both")
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="worker poll, seconds (5, as hookwise)"
    )
    parser.add_argument(
        "--reactions", action="store_true", help="AI review on, against the fakes (off)"
    )
    parser.add_argument(
        "--model-delay", type=float, default=2.0, help="seconds the fake model takes (2)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="deliveries offered a second (0: all at once)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="deliveries sent and handled first, at --rate, left out of the figures (0)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.5,
        help="seconds per line of the per-interval lag view (0.5; 0: none)",
    )
    parser.add_argument(
        "--pg-log",
        action="store_true",
        help="the embedded server logs checkpoints, autovacuum, waits; print its lines (off)",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="web processes of the hookwise server, as serve --workers N (1)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds, each from a fresh database and server; a summary line per mode (1)",
    )
    args = parser.parse_args(argv)
    if args.rate < 0 or args.warmup < 0 or args.interval < 0:
        parser.error("--rate, --warmup and --interval must be >= 0")
    counts = (args.events, args.concurrency, args.senders, args.spread, args.web_processes)
    if min(*counts, args.repeat) < 1:
        parser.error(
            "--events, --concurrency, --senders, --spread, --web-processes and --repeat"
            " must be >= 1"
        )
    if args.poll_interval <= 0:
        parser.error("--poll-interval must be > 0")
    modes = ("live", "backlog") if args.mode == "both" else (args.mode,)
    return Options(
        args.events,
        args.concurrency,
        args.senders,
        args.spread,
        modes,
        args.poll_interval,
        args.reactions,
        args.model_delay,
        args.rate,
        args.warmup,
        args.interval,
        args.pg_log,
        args.web_processes,
        args.repeat,
    )


# --- deliveries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What keeps one mode's rows apart from the other's and from earlier runs."""

    tag: str
    repository: dict[str, Any]
    installation: dict[str, Any]
    id_base: int
    # With reactions: each PR's (opened, pushed) head commits as the fake GitHub made them, so
    # reviews are posted on commits GitHub knows.
    heads: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def repository_id(self) -> int:
        return int(self.repository["id"])

    def delivery_prefix(self) -> str:
        return f"bench-{self.tag}-"


def new_scope(mode: str) -> Scope:
    tag = f"{mode}-{secrets.token_hex(4)}"
    # Random ids well inside bigint, so a shared DATABASE_URL's earlier runs never collide.
    base = secrets.randbelow(2**40) * 1000 + 10**15
    repository = copy.deepcopy(github_example("pull_request", "opened")["repository"])
    # One repository object for every delivery: payloads that disagreed on it would rewrite
    # (and lock) the repository row, which the fixtures' differing copies would do.
    repository.update(
        id=base, node_id=f"bench-{tag}", name=tag, full_name=f"hookwise-bench/{tag}", fork=False
    )
    installation = {"id": base, "node_id": f"bench-{tag}"}
    return Scope(tag, repository, installation, id_base=base)


def sha(scope: Scope, k: int, which: str) -> str:
    if k in scope.heads:
        return scope.heads[k][0 if which == "opened" else 1]
    return hashlib.sha1(f"{scope.tag}:{k}:{which}".encode()).hexdigest()


def github_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pull_request_payload(scope: Scope, k: int, action: str) -> dict[str, Any]:
    payload = copy.deepcopy(github_example("pull_request", action))
    opened, pushed = sha(scope, k, "opened"), sha(scope, k, "pushed")
    number = k + 1
    # A push moves the head and comes later: the handler keeps the newer state either way round.
    head = opened if action == "opened" else pushed
    updated = OPENED_AT if action == "opened" else OPENED_AT + timedelta(minutes=1)
    pr = payload["pull_request"]
    pr.update(
        id=scope.id_base + k,
        number=number,
        state="open",
        merged=False,
        merged_at=None,
        closed_at=None,
        created_at=github_time(OPENED_AT),
        updated_at=github_time(updated),
    )
    pr["head"].update(sha=head, repo=scope.repository)
    pr["base"]["repo"] = scope.repository
    payload.update(number=number, repository=scope.repository, installation=scope.installation)
    if action == "synchronize":
        payload.update(before=opened, after=pushed)
    return payload


def check_run_payload(scope: Scope, k: int, action: str) -> dict[str, Any]:
    payload = copy.deepcopy(github_example("check_run", action))
    head = sha(scope, k, "pushed")
    run = payload["check_run"]
    run.update(id=scope.id_base + k, head_sha=head)
    run["check_suite"].update(id=scope.id_base + k, head_sha=head)
    linked = run["pull_requests"][0]
    linked.update(id=scope.id_base + k, number=k + 1)
    linked["head"].update(sha=head)
    for side in ("head", "base"):
        linked[side]["repo"].update(id=scope.repository_id, name=scope.repository["name"])
    run["pull_requests"] = [linked]
    payload.update(repository=scope.repository, installation=scope.installation)
    return payload


def schedule(events: int, spread: int) -> list[tuple[int, int]]:
    """(pull request, step) in sending order, cut to `events`."""
    prs = math.ceil(events / len(STEPS))
    order = [
        (k, step)
        for start in range(0, prs, spread)
        for step in range(len(STEPS))
        for k in range(start, min(start + spread, prs))
    ]
    return order[:events]


def build(scope: Scope, events: int, spread: int, secret: str) -> list[Outgoing]:
    outgoing = []
    for n, (k, step) in enumerate(schedule(events, spread)):
        event, action = STEPS[step]
        make = pull_request_payload if event == "pull_request" else check_run_payload
        body = json.dumps(make(scope, k, action)).encode()
        delivery_id = f"{scope.delivery_prefix()}{n:07d}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": "1",
            "X-Hub-Signature-256": github_signature(secret.encode(), body),
        }
        outgoing.append(Outgoing(delivery_id, headers, body))
    return outgoing


# --- the server and the database -------------------------------------------------------------


def hookwise_server(
    dsn: str, secret: str, workdir: Path, web_processes: int
) -> AbstractContextManager[Server]:
    port = free_port()
    env = clean_environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=secret,
        HOST=HOST,
        PORT=str(port),
    )
    command = [hookwise_command(), "serve", "--no-worker", "--workers", str(web_processes)]
    return running("hookwise", command, env, port, workdir, cwd=workdir)


@contextmanager
def database(workdir: Path) -> Iterator[tuple[str, str]]:
    """(DSN, where it is): DATABASE_URL, or an embedded server deleted with `workdir`."""
    if dsn := os.environ.get("DATABASE_URL"):
        yield dsn, "DATABASE_URL"
        return
    with embedded_server(workdir / "pgdata") as dsn:
        yield dsn, EMBEDDED


EMBEDDED = "embedded PostgreSQL"

# --pg-log: what the server does besides our statements, and what of ours was slow or waited.
LOG_MORE = {
    "log_checkpoints": "on",
    "log_autovacuum_min_duration": "0",
    "log_lock_waits": "on",
    # Lock waits are logged once they pass this (and the deadlock check runs then).
    "deadlock_timeout": "20ms",
    "log_min_duration_statement": "20ms",
    "log_line_prefix": "%m [%p] %b ",
    "log_timezone": "UTC",
}
PG_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC ")


async def log_more(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name, value in LOG_MORE.items():
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def server_log_lines(path: Path, outcomes: list[Outcome]) -> list[str]:
    """The server's log entries from each outcome's window (a second either side), each with
    its time from the window's start on our clock, cut to 240 characters."""
    found = []
    entries: list[tuple[float, str]] = []
    for line in path.read_text(errors="replace").splitlines():
        if match := PG_LOG_TIME.match(line):
            moment = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
            entries.append((moment.timestamp(), line[match.end() :]))
        elif entries and line.strip():
            entries[-1] = (entries[-1][0], entries[-1][1] + " | " + line.strip())
    for o in outcomes:
        start, end = o.window
        mine = [
            (moment - o.offset - start, text)
            for moment, text in entries
            if start - 1 <= moment - o.offset <= end + 1
        ]
        found.append(f"{o.mode}: the server's log, {len(mine)} entries from {since(o)}:")
        found += [f"  {t:7.2f} s {text[:240]}" for t, text in mine]
    return found


async def migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()


# --- the worker and what it saw --------------------------------------------------------------


class HandlerStarts:
    """When each event's first handler began, on our clock, by event id."""

    def __init__(self) -> None:
        self.first: dict[UUID, float] = {}
        # More calls than events means an attempt was rolled back and run again.
        self.calls = 0

    async def record(self, event: HandlerContext) -> None:
        self.calls += 1
        self.first.setdefault(event.event.id, time.time())

    def router(self) -> Router:
        router = Router()
        for event in ("pull_request", "check_run"):
            router.add(self.record, "github", event)
        return router


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process's, not only ours), from
    /proc/stat; nan where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return math.nan
    ticks = [int(value) for value in fields[:8]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) that the process `root` and its live descendants have
    spent; nan when it cannot be read (no psutil, which the embedded extra brings, or no
    such process). A child that exited takes its seconds with it."""
    try:
        import psutil
    except ImportError:
        return math.nan
    try:
        parent = psutil.Process(root)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return math.nan
    total = 0.0
    for process in processes:
        with suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def postmaster_of(ctx: Context) -> int | None:
    """The PostgreSQL server's process id, when it runs on this machine."""
    try:
        import psutil
    except ImportError:
        return None
    async with ctx.pool.acquire() as conn:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    try:
        return int(psutil.Process(backend).ppid())
    except psutil.Error:
        return None  # another machine's


# What each busy backend waits for (no wait: running), for --pg-log; an idle backend, one
# waiting for its client and a background process in its main loop (Activity) are not busy.
ACTIVITY = """
SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' ' || backend_type
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'
  AND wait_event IS DISTINCT FROM 'ClientRead' AND wait_event_type IS DISTINCT FROM 'Activity'
  AND backend_type IN ('client backend', 'walwriter', 'checkpointer', 'autovacuum worker')
"""


class Activity:
    """With --pg-log: every EVERY seconds, on a connection of its own, what PostgreSQL's busy
    backends wait for, as (time.time(), [wait, ...])."""

    EVERY = 0.02

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.samples: list[tuple[float, list[str]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self, conn: asyncpg.Connection) -> None:
        while True:
            began = time.time()
            self.samples.append((began, [r[0] for r in await conn.fetch(ACTIVITY)]))
            await asyncio.sleep(max(0.0, self.EVERY - (time.time() - began)))

    async def __aenter__(self) -> Activity:
        if self.dsn is not None:
            conn = await asyncpg.connect(self.dsn)
            self._task = asyncio.create_task(self._sample(conn), name="bench-activity")
            self._task.add_done_callback(lambda _: asyncio.ensure_future(conn.close()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def between(self, a: float, b: float) -> str:
        """The two commonest waits from `a` to `b`, each with how many backends it held on
        average."""
        inside = [waits for moment, waits in self.samples if a <= moment < b]
        if not inside:
            return ""
        counts = Counter(wait for waits in inside for wait in waits)
        return ", ".join(f"{wait} {n / len(inside):.1f}" for wait, n in counts.most_common(2))


class Watch:
    """While in the block: the collector's pauses in this process, the worker's (when each
    began, time.time(); how long, seconds; generation), and every SAMPLE seconds the CPU
    seconds this process and the whole machine have spent (time.time(), process, machine)."""

    SAMPLE = 0.1

    def __init__(self, trees: dict[str, int | None]) -> None:
        self.pauses: list[tuple[float, float, int]] = []
        self.samples: list[tuple[float, float, float]] = []
        self._began = (0.0, 0.0)
        self._sampler: asyncio.Task[None] | None = None
        # CPU seconds each named process tree spent in the block (the server's, PostgreSQL's).
        self.trees = trees
        self.tree_cpu: dict[str, float] = {}

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = (time.time(), time.perf_counter())
        else:
            wall, began = self._began
            self.pauses.append((wall, time.perf_counter() - began, info["generation"]))

    def _sample(self) -> None:
        self.samples.append((time.time(), time.process_time(), machine_busy()))

    async def _sample_every(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.SAMPLE)

    def _trees(self) -> dict[str, float]:
        return {
            name: tree_cpu(pid) if pid is not None else math.nan for name, pid in self.trees.items()
        }

    async def __aenter__(self) -> Watch:
        gc.callbacks.append(self._callback)
        self.tree_cpu = self._trees()
        self._sampler = asyncio.create_task(self._sample_every(), name="bench-cpu")
        return self

    async def __aexit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
        self._sample()
        began, self.tree_cpu = self.tree_cpu, self._trees()
        self.tree_cpu = {name: seconds - began[name] for name, seconds in self.tree_cpu.items()}


def cpu_between(
    samples: list[tuple[float, float, float]], a: float, b: float
) -> tuple[float, float]:
    """Cores busy on average from `a` to `b` (time.time()), by the samples nearest inside:
    (this process's, the machine's); nan when fewer than two fall inside."""
    inside = [sample for sample in samples if a <= sample[0] <= b]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return math.nan, math.nan
    (t0, p0, m0), (t1, p1, m1) = inside[0], inside[-1]
    return (p1 - p0) / (t1 - t0), (m1 - m0) / (t1 - t0)


class WarningCounter(logging.Handler):
    """Counts what hookwise logs at WARNING and above in this process (retries, lost leases)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def round_log(path: Path) -> Iterator[WarningCounter]:
    """This process's log, for one round, as JSON lines in `path`, and a count of its warnings.

    Set before the round's database starts, so its start and stop lines land here too; and
    the logging of before put back before the file closes. A root handler left writing to the
    closed file made the next round's first line (the database's start) a "--- Logging error
    ---" traceback (ValueError: I/O operation on closed file).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    warnings = WarningCounter()
    with open(path, "w") as stream:
        # The worker logs as `hookwise serve` does by default (INFO, two lines an event, as
        # JSON to a file): their cost is part of what the figures measure.
        logs.configure("info", format="json", stream=stream)
        root.addHandler(warnings)
        try:
            yield warnings
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)


ROWS = """
SELECT id, status, attempts, extract(epoch FROM received_at)::float8 AS received, last_error,
       extract(epoch FROM processed_at)::float8 AS processed
FROM integration_events WHERE delivery_id LIKE $1
"""
EXECUTIONS = """
SELECT e.status, count(*) AS n,
       extract(epoch FROM max(e.completed_at))::float8 AS last_done
FROM workflow_executions e JOIN integration_events i ON i.id = e.event_id
WHERE i.delivery_id LIKE $1 GROUP BY e.status
"""
EXECUTION_ERRORS = """
SELECT w.name || ' ' || e.status || ': ' || left(e.error_message, 120) AS error, count(*) AS n
FROM workflow_executions e JOIN integration_events i ON i.id = e.event_id
JOIN workflows w ON w.id = e.workflow_id
WHERE i.delivery_id LIKE $1 AND e.error_message IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 3
"""
CLOCK = "SELECT extract(epoch FROM clock_timestamp())::float8"


async def clock_offset(conn: asyncpg.Connection) -> float:
    """PostgreSQL's clock minus ours, from the sample with the shortest round trip."""
    samples = []
    for _ in range(7):
        before = time.time()
        theirs = float(await conn.fetchval(CLOCK))
        after = time.time()
        samples.append((after - before, theirs - (before + after) / 2))
    return min(samples)[1]


@dataclass(frozen=True)
class Outcome:
    mode: str
    sent: Sent
    # The measured window: live from the first POST, backlog from the worker's start; to idle.
    window: tuple[float, float]
    rows: list[asyncpg.Record]
    starts: dict[UUID, float]
    handler_calls: int
    offset: float
    # Executions by status, and when the last one finished (our clock); reactions only.
    executions: dict[str, int] = field(default_factory=dict)
    executions_done: float = math.nan
    execution_errors: list[str] = field(default_factory=list)
    gc_pauses: list[tuple[float, float, int]] = field(default_factory=list)
    # Watch.samples: (time.time(), CPU seconds of the worker's process, of the whole machine).
    cpu_samples: list[tuple[float, float, float]] = field(default_factory=list)
    # CPU seconds of the server's and PostgreSQL's processes from the send's start to idle.
    tree_cpu: dict[str, float] = field(default_factory=dict)
    activity: Activity | None = None

    @property
    def statuses(self) -> Counter[str]:
        return Counter(row["status"] for row in self.rows)

    @property
    def attempts(self) -> Counter[int]:
        return Counter(row["attempts"] for row in self.rows)

    def lags_ms(self) -> list[float]:
        return [
            (self.starts[row["id"]] + self.offset - row["received"]) * 1000
            for row in self.rows
            if row["id"] in self.starts
        ]

    @property
    def state_done(self) -> float:
        """When the last event completed, on our clock."""
        done = [row["processed"] for row in self.rows if row["processed"] is not None]
        return max(done) - self.offset if done else math.nan

    @property
    def rate(self) -> float:
        """Completed events over the window to the last event's completion."""
        completed = self.statuses["completed"]
        start, end = self.window[0], self.state_done
        return completed / (end - start) if end > start else math.nan

    @property
    def ingest_rate(self) -> float:
        span = self.sent.last_answer - self.sent.first_post
        return self.sent.accepted / span if span > 0 else math.nan

    def problems(self, expected: int) -> list[str]:
        found = []
        if self.sent.accepted != expected:
            found.append(f"{self.sent.accepted} of {expected} answered 202: {self.sent.statuses}")
        if self.sent.error_count:
            found.append(f"{self.sent.error_count} unanswered: {self.sent.errors}")
        if self.statuses["completed"] != expected or len(self.rows) != expected:
            found.append(f"{len(self.rows)} stored, by status {dict(self.statuses)}")
        if set(self.attempts) - {1}:
            found.append(f"attempts {dict(self.attempts)}")
        if self.handler_calls != len(self.starts):
            found.append(f"{self.handler_calls} handler runs for {len(self.starts)} events")
        errors = Counter(row["last_error"] for row in self.rows if row["last_error"])
        found += [f"{count}x {error}" for error, count in errors.most_common(3)]
        return found


async def collect(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    return list(await conn.fetch(ROWS, scope.delivery_prefix() + "%"))


async def idle(worker: Worker) -> float:
    """Wait until everything committed so far is handled; when that was."""
    try:
        await asyncio.wait_for(worker.idle(wake=True), timeout=IDLE_TIMEOUT)
    except TimeoutError:
        raise BenchError(f"the worker was not idle after {IDLE_TIMEOUT:.0f} s") from None
    return time.time()


async def run_mode(mode: str, opts: Options, dsn: str, server: Server, secret: str) -> Outcome:
    scope = new_scope(mode)
    starts = HandlerStarts()
    # The timing handler first, so it runs before the real handlers of the same event.
    router = Router(starts.router(), default_router())
    settings = Settings().with_env(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=secret,
        # Named, so a HOOKWISE_SOURCES in the caller's environment cannot ask for Linear too.
        HOOKWISE_SOURCES=("github",),
        HOOKWISE_WORKER_CONCURRENCY=opts.concurrency,
        HOOKWISE_POLL_INTERVAL=opts.poll_interval,
        # Every slot holds a connection for its event; the claim needs one more.
        HOOKWISE_DB_POOL_SIZE=max(10, opts.concurrency + 2),
    )
    async with AsyncExitStack() as stack:
        if opts.reactions:
            settings = await stack.enter_async_context(with_reactions(settings, scope, opts))
        # After the fake GitHub made the PRs' commits, whose shas the payloads carry.
        outgoing = build(scope, opts.events, opts.spread, secret)
        ctx = await stack.enter_async_context(open_context(settings, dsn))
        if opts.warmup:
            await warm_up(ctx, server, secret, opts)
        worker = Worker(ctx, router)
        # As `hookwise serve` and `hookwise worker` do before they run: else each full
        # collection walks start-up's objects (~110 ms), a pause no hookwise process has.
        freeze_startup_objects()
        task: asyncio.Task[None] | None = None
        watch = Watch({"server": server.process.pid, "PostgreSQL": await postmaster_of(ctx)})
        activity = Activity(dsn if opts.pg_log else None)
        try:
            if mode == "live":
                task = asyncio.create_task(worker.run(), name="bench-worker")
                await idle(worker)
                async with watch, activity:
                    sent = await send(server.webhook_url, outgoing, opts.senders, opts.rate)
                    window = (sent.first_post, await idle(worker))
            else:
                sent = await send(server.webhook_url, outgoing, opts.senders)
                begun = time.time()
                async with watch, activity:
                    task = asyncio.create_task(worker.run(), name="bench-worker")
                    window = (begun, await idle(worker))
        finally:
            worker.stop()
            if task is not None:
                await task
        async with ctx.pool.acquire() as conn:
            offset = await clock_offset(conn)
            rows = await collect(conn, scope)
            ran = await conn.fetch(EXECUTIONS, scope.delivery_prefix() + "%")
            errors = await conn.fetch(EXECUTION_ERRORS, scope.delivery_prefix() + "%")
    done = [r["last_done"] for r in ran if r["last_done"] is not None]
    return Outcome(
        mode,
        sent,
        window,
        rows,
        starts.first,
        starts.calls,
        offset,
        executions={r["status"]: r["n"] for r in ran},
        executions_done=max(done) - offset if done else math.nan,
        execution_errors=[f"{r['n']}x {r['error']}" for r in errors],
        gc_pauses=watch.pauses,
        cpu_samples=watch.samples,
        tree_cpu=watch.tree_cpu,
        activity=activity,
    )


async def warm_up(ctx: Context, server: Server, secret: str, opts: Options) -> None:
    """`opts.warmup` deliveries of a scope of their own through ingest and a worker of their own
    on the same pool, at `opts.rate`, until handled: the measured load then finds the server's
    and the pool's connections open and their statements prepared, as a running hookwise does."""
    warm = new_scope("warmup")
    outgoing = build(warm, opts.warmup, opts.spread, secret)
    worker = Worker(ctx, Router(HandlerStarts().router(), default_router()))
    task = asyncio.create_task(worker.run(), name="bench-warmup")
    try:
        await idle(worker)
        await send(server.webhook_url, outgoing, opts.senders, opts.rate)
        await idle(worker)
    finally:
        worker.stop()
        await task


@dataclass(frozen=True)
class Fakes:
    """Where the fakes of a reactions run listen, and what hookwise needs to use them."""

    github_url: str
    app_id: int
    private_key_pem: str
    model_url: str
    model_key: str
    heads: dict[int, tuple[str, str]]


@asynccontextmanager
async def with_reactions(settings: Settings, scope: Scope, opts: Options) -> Any:
    """The fake GitHub (the App, the repository and its pull requests) and the fake model, in a
    process of their own: in this one they would take the worker's CPU (the fake GitHub checks
    every request against GitHub's OpenAPI description), which the real services never do."""
    from tests.conftest import with_github

    receiver, sender = SPAWN.Pipe()
    process = SPAWN.Process(
        target=serve_fakes, args=(scope, opts, sender), name="bench-fakes", daemon=True
    )
    process.start()
    sender.close()
    try:
        # In a thread: the message is large, and a reader on the loop would make the pipe
        # non-blocking under it (uvloop).
        fakes: Fakes = await asyncio.to_thread(receiver.recv)
        scope.heads.update(fakes.heads)
        github = SimpleNamespace(
            url=fakes.github_url, app_id=fakes.app_id, private_key_pem=fakes.private_key_pem
        )
        yield with_github(
            settings,
            github,
            ANTHROPIC_API_KEY=fakes.model_key,
            ANTHROPIC_BASE_URL=fakes.model_url,
            HOOKWISE_REVIEW=True,
            HOOKWISE_GITHUB_WRITE_INTERVAL=0.0,
        )
    finally:
        with suppress(OSError):
            receiver.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()
        receiver.close()


def serve_fakes(scope: Scope, opts: Options, conn: Connection) -> None:
    """The fakes' process: set them up, say where they are, serve until told to stop."""
    asyncio.run(fakes_until_stopped(scope, opts, conn))


async def fakes_until_stopped(scope: Scope, opts: Options, conn: Connection) -> None:
    from tests.fakes.anthropic import FakeAnthropic
    from tests.fakes.github import FakeGitHub

    async with FakeGitHub(webhook_secret=secrets.token_hex(8)) as github, FakeAnthropic() as model:
        github.add_installation(scope.installation["id"])
        name = scope.repository["full_name"]
        github.add_repo(name, installation_id=scope.installation["id"], files=BENCH_FILES)
        heads = {}
        for k in range(math.ceil(opts.events / len(STEPS))):
            branch, changed = f"work-{k}", BENCH_FILES["calc.py"] + "# changed\n"
            opened = github.commit_files(name, branch, {"calc.py": changed})
            github.add_pull(name, k + 1, head_branch=branch, title=f"PR {k + 1}")
            pushed = github.commit_files(name, branch, {"calc.py": changed + "# again\n"})
            heads[k] = (opened, pushed)
        model.responder = lambda request: {"summary": "Fine.", "comments": []}
        model.delay = opts.model_delay
        key = github.private_key_pem
        conn.send(Fakes(github.url, github.app_id, key, model.url, model.api_key, heads))
        await readable(conn)


async def readable(conn: Connection) -> None:
    """Return once the pipe has something to read, or its other end closed."""
    ready = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), ready.set)
    try:
        await ready.wait()
    finally:
        loop.remove_reader(conn.fileno())


# --- report ----------------------------------------------------------------------------------


def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def figure(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


COLUMNS = (
    ("mode", 8),
    ("events", 8),
    ("ingest/s", 10),
    ("events/s", 10),
    ("lag p50 ms", 12),
    ("p99 ms", 10),
    ("max ms", 10),
    ("completed", 11),
    ("failed", 8),
    ("other", 7),
    ("attempts=1", 12),
)


def row_line(cells: tuple[str, ...]) -> str:
    widths = [width for _, width in COLUMNS]
    line = cells[0].ljust(widths[0])
    line += "".join(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
    return line.rstrip()


def outcome_cells(o: Outcome) -> tuple[str, ...]:
    lags = o.lags_ms()
    statuses = o.statuses
    return (
        o.mode,
        str(len(o.rows)),
        figure(o.ingest_rate),
        figure(o.rate),
        figure(percentile(lags, 50)),
        figure(percentile(lags, 99)),
        figure(max(lags, default=math.nan)),
        str(statuses["completed"]),
        str(statuses["failed"]),
        str(len(o.rows) - statuses["completed"] - statuses["failed"]),
        str(o.attempts[1]),
    )


def since(o: Outcome) -> str:
    return "first POST" if o.mode == "live" else "worker start"


def detail(o: Outcome) -> str:
    start, end = o.window
    span = end - start
    tail = end - o.sent.last_answer
    line = (
        f"{o.mode}: POSTs {o.sent.last_answer - o.sent.first_post:.2f} s, "
        f"{since(o)} to last event completed {o.state_done - start:.2f} s, to idle "
        f"{end - start:.2f} s (idle {tail:.2f} s after the last answer); "
        f"statuses {dict(sorted(o.sent.statuses.items()))}; handler runs {o.handler_calls}; "
        f"clock offset {o.offset * 1000:+.2f} ms"
    )
    if o.executions:
        line += (
            f"; executions {dict(sorted(o.executions.items()))}, the last finished "
            f"{o.executions_done - start:.2f} s after {since(o)}"
        )
    for error in o.execution_errors:
        line += f"\n  {error}"
    sizes = batch_sizes(o)
    line += (
        f"\n  batches: {len(sizes)} transactions completed events, "
        f"{figure(statistics.fmean(sizes) if sizes else math.nan, 2)} a transaction, "
        f"{sum(1 for size in sizes if size == 1)} of one"
    )
    worker, machine = cpu_between(o.cpu_samples, start, end)
    # The sender's start, before the window, costs the server and PostgreSQL next to nothing.
    trees = ", ".join(f"{name} {figure(seconds / span, 2)}" for name, seconds in o.tree_cpu.items())
    line += (
        f"\n  CPU in the window, cores: worker {figure(worker, 2)}, {trees}, sender "
        f"{figure(o.sent.cpu_seconds / span, 2)}; whole machine {figure(machine, 2)} of "
        f"{os.cpu_count()}, with anything else running"
    )
    return line + "\n  " + offered(o.sent) + "\n  " + gc_line(o)


def batch_sizes(o: Outcome) -> list[int]:
    """Events per transaction that completed them: a transaction's now() is its start, the
    same for every row it finishes, so rows sharing processed_at were one batch."""
    return list(Counter(row["processed"] for row in o.rows if row["processed"]).values())


def gc_line(o: Outcome) -> str:
    start, end = o.window
    pauses = [pause for pause in o.gc_pauses if start <= pause[0] <= end]
    if not pauses:
        return "gc (worker's process): no collection"
    generations = Counter(generation for _, _, generation in pauses)
    longest = sorted(pauses, key=lambda pause: pause[1], reverse=True)[:3]
    return (
        f"gc (worker's process): {len(pauses)} collections "
        f"({', '.join(f'gen {g}: {n}' for g, n in sorted(generations.items()))}), "
        f"{sum(pause[1] for pause in pauses) * 1000:.1f} ms in all; longest "
        + ", ".join(
            f"{d * 1000:.1f} ms (gen {g}) at {w - o.window[0]:.2f} s" for w, d, g in longest
        )
    )


INTERVAL_COLUMNS = (
    ("t s", 7),
    ("received", 10),
    ("handled", 9),
    ("lag p50", 9),
    ("p99", 8),
    ("max", 8),
    ("batches", 9),
    ("gc ms", 8),
    ("worker", 8),
    ("machine", 9),
)


def interval_lines(o: Outcome, step: float) -> list[str]:
    """Per `step` seconds from the window's start: events received (stored), events whose
    handlers began and their lag (ms), transactions that completed events, gc pauses begun
    (ms), the cores busy: the worker's process, the whole machine; with --pg-log, what
    PostgreSQL's busy backends waited for. A stall shows as a line of few handled and a long
    lag in the lines after."""
    start = o.window[0]

    def at(moment: float) -> int:
        return max(0, int((moment - start) // step))

    received: Counter[int] = Counter(at(r["received"] - o.offset) for r in o.rows)
    lags: dict[int, list[float]] = {}
    for row in o.rows:
        if (began := o.starts.get(row["id"])) is not None:
            lags.setdefault(at(began), []).append((began + o.offset - row["received"]) * 1000)
    batches = Counter(at(p - o.offset) for p in {r["processed"] for r in o.rows if r["processed"]})
    gcs: dict[int, float] = {}
    for began, seconds, _ in o.gc_pauses:
        gcs[at(began)] = gcs.get(at(began), 0.0) + seconds * 1000
    last = max([*received, *lags, *batches, 0])

    def span(n: int) -> tuple[float, float]:
        # The samples at the interval's ends count too: they are SAMPLE apart.
        return start + n * step - Watch.SAMPLE / 2, start + (n + 1) * step + Watch.SAMPLE / 2

    widths = [width for _, width in INTERVAL_COLUMNS]
    lines = ["".join(name.rjust(width) for name, width in INTERVAL_COLUMNS)]
    for n in range(last + 1):
        handled = lags.get(n, [])
        cells = (
            f"{n * step:.1f}",
            str(received[n]),
            str(len(handled)),
            figure(percentile(handled, 50)),
            figure(percentile(handled, 99)),
            figure(max(handled, default=math.nan)),
            str(batches[n]),
            f"{gcs[n]:.1f}" if n in gcs else "",
            *(figure(cores, 2) for cores in cpu_between(o.cpu_samples, *span(n))),
        )
        waits = o.activity.between(start + n * step, start + (n + 1) * step) if o.activity else ""
        line = "".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
        lines.append(f"{line}  {waits}" if waits else line)
    return lines


def offered(sent: Sent) -> str:
    """What the sender offered, how late against --rate, and the CPU it took."""
    span = sent.last_answer - sent.first_post
    line = (
        f"sender: offered {sent.offered} at {figure(sent.offered_rate)}/s, "
        f"CPU {sent.cpu_seconds:.2f} s ({figure(100 * sent.cpu_seconds / span, 0)}% of a core)"
    )
    if not math.isnan(sent.late_ms[0]):
        p50, p99, most = sent.late_ms
        line += f", written late p50 {figure(p50)} ms, p99 {figure(p99)} ms, max {figure(most)} ms"
    return line


def report(
    outcomes: list[Outcome],
    opts: Options,
    where: str,
    server: Server,
    warnings: int,
    pg_log: list[str],
) -> list[str]:
    prs = math.ceil(opts.events / len(STEPS))
    lines = [
        f"dispatch: {opts.events} deliveries per mode ({prs} PRs x opened, synchronize, "
        f"check_run created, completed; {opts.spread} PRs interleaved), {opts.senders} senders"
        + (f" offering {opts.rate:g}/s" if opts.rate else "")
        + f", {opts.web_processes} web process{'es' if opts.web_processes > 1 else ''}, "
        f"worker concurrency {opts.concurrency}, poll {opts.poll_interval:g} s, {where}, "
        f"{os.cpu_count()} CPUs; reactions "
        + (f"on (model answers after {opts.model_delay:g} s)" if opts.reactions else "off")
        + (f"; after a warm-up of {opts.warmup} deliveries" if opts.warmup else ""),
        "",
        row_line(tuple(name for name, _ in COLUMNS)),
        *(row_line(outcome_cells(o)) for o in outcomes),
        "",
        "ingest/s: 202s over the POSTs' span. events/s: completed over first POST (live) or "
        "worker start (backlog) to the last event completed.",
        "lag: first handler start - received_at (insert, autocommitted); backlog's includes the "
        "wait for the worker to start.",
        "",
        *(detail(o) for o in outcomes),
    ]
    if opts.interval:
        for o in outcomes:
            lines += ["", f"{o.mode}, per {opts.interval:g} s from {since(o)}:"]
            lines += interval_lines(o, opts.interval)
    lines += pg_log
    for o in outcomes:
        lines += [f"{o.mode}: PROBLEM: {p}" for p in o.problems(opts.events)]
    server_log = warning_lines(server.log)
    lines.append(
        f"server exit code {server.exit_code}, {len(server_log)} log lines at WARNING+; "
        f"worker {warnings} at WARNING+"
    )
    lines += [f"  {line}" for line in server_log[:5]]
    return lines


# --- the run ---------------------------------------------------------------------------------


async def bench(opts: Options, dsn: str, server: Server, secret: str) -> list[Outcome]:
    return [await run_mode(mode, opts, dsn, server, secret) for mode in opts.modes]


def one_round(opts: Options, secret: str) -> tuple[list[str], list[Outcome], bool]:
    """One run of every mode from a fresh database and server: (the report's lines, the
    outcomes, whether it was clean). Raises BenchError."""
    with (
        tempfile.TemporaryDirectory(prefix="hookwise-dispatch-") as tmp,
        round_log(Path(tmp) / "worker.log") as warnings,
        database(Path(tmp)) as (dsn, where),
    ):
        if opts.pg_log:
            if where != EMBEDDED:
                raise BenchError("--pg-log needs the embedded server: unset DATABASE_URL")
            run_on_uvloop(log_more(dsn))
        run_on_uvloop(migrate(dsn))
        with hookwise_server(dsn, secret, Path(tmp), opts.web_processes) as server:
            print(f"hookwise ready at {server.base_url}; {where}", file=sys.stderr)
            outcomes = run_on_uvloop(bench(opts, dsn, server, secret))
        pg_lines = server_log_lines(Path(tmp) / "pgdata" / "log", outcomes) if opts.pg_log else []
        lines = report(outcomes, opts, where, server, warnings.count, pg_lines)
    clean = server.exit_code == 0 and not any(o.problems(opts.events) for o in outcomes)
    return lines, outcomes, clean


def summary(rounds: list[list[Outcome]]) -> list[str]:
    """A line per mode over the rounds: each round's lag p99 and events/s, in order, and
    their medians (the machine's noise is as large as many effects: one round says little)."""
    lines = [f"over {len(rounds)} rounds:"]
    for i, mode in enumerate(o.mode for o in rounds[0]):
        p99 = [percentile(r[i].lags_ms(), 99) for r in rounds]
        rate = [r[i].rate for r in rounds]
        lines.append(
            f"  {mode}: lag p99 ms {', '.join(figure(v) for v in p99)} (median "
            f"{figure(statistics.median(p99))}); events/s {', '.join(figure(v) for v in rate)} "
            f"(median {figure(statistics.median(rate))})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    secret = secrets.token_hex(16)
    rounds: list[list[Outcome]] = []
    clean = True
    try:
        for n in range(opts.repeat):
            lines, outcomes, round_clean = one_round(opts, secret)
            if opts.repeat > 1:
                lines = [f"round {n + 1} of {opts.repeat}", *lines, ""]
            print("\n".join(lines), flush=True)
            rounds.append(outcomes)
            clean = clean and round_clean
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The with blocks above have stopped the sender, worker, server and database by now.
        print("bench: interrupted", file=sys.stderr)
        return 130
    if opts.repeat > 1:
        print("\n".join(summary(rounds)))
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
