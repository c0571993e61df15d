"""Ingest throughput: `hookwise serve` against a bare Starlette app that only checks the signature.

    python bench/ingest.py [--duration 10] [--connections 32] [--threads 2] [--warmup 2]
                           [--tool auto|wrk|httpx] [--only both|bare|hookwise]
                           [--processes N] [--no-worker] [--pull-requests K]
                           [--hookwise-env NAME=VALUE] [--matrix] [--repeat R]

`--processes N` runs both servers as N processes on the port: the bare app as uvicorn --workers
N, hookwise as `serve --workers N` (its own default: one per core); `--no-worker` leaves
hookwise's worker out. `--matrix` runs, `--repeat` times, each of N = 1 and N = 2: the bare app,
hookwise serve (web and worker), hookwise serve --no-worker, one after the other; it prints each
run's table, then one line per run with the ratios side by side.

The bare app (bench/bare_app.py) is the upper limit: the same uvicorn, uvloop and httptools, the
same HMAC over the same raw bytes, then 202 without storing anything. Each server runs as its own
process on a free 127.0.0.1 port and is loaded alone, one after the other, so that neither shares
the cores with the other. Every request carries the same signed pull_request payload, sent as the
bytes on disk, and a fresh X-GitHub-Delivery id, over keep-alive connections.

For hookwise the deliveries it acknowledged (2xx) are compared with the rows it stored. The ids of
a run share a random tag, so rows from the warm-up or from earlier runs on a shared DATABASE_URL
are not counted.

Load comes from wrk when it is installed, else from a closed loop of httpx clients in this
process; Python is a much slower client than wrk, so httpx figures are a floor, not a ceiling.
wrk exits without reading the answers still in flight (one per connection at most); hookwise may
have stored those, so with wrk rows can exceed 2xx by up to that many, never fall short. The httpx
loop waits for its last answers, so there the two must be equal.

Each run also prints the CPU its server's processes used per acknowledged delivery while the load
was measured (Linux, from /proc), by role: PostgreSQL's processes, worker processes (hookwise
runs only those niced) and the rest ("web"; with the worker on the web's loop, both).

Timing is reported, never judged. Exit status: 1 if an acknowledged delivery was not stored, rows
exceed what was sent, or a server did not stop cleanly; 2 if the benchmark could not run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, sys.path starts at bench/; the repository root holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, AsyncExitStack, suppress
from dataclasses import dataclass, field, replace

import asyncpg
import httpx

from bench.servers import (
    HOST,
    ROOT,
    BenchError,
    Server,
    clean_environment,
    free_port,
    hookwise_command,
    running,
    warning_lines,
)

PAYLOAD = ROOT / "tests" / "payloads" / "pull_request.opened.json"
REQUEST_TIMEOUT = 10.0

# Every header but the delivery id, which changes per request; the order GitHub sends them in.
STATIC_HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "GitHub-Hookshot/bench",
    "X-GitHub-Event": "pull_request",
    "X-GitHub-Hook-ID": "1",
    "X-GitHub-Hook-Installation-Target-Type": "integration",
    "X-GitHub-Hook-Installation-Target-ID": "1",
}

# wrk's Lua: counters are globals, not locals, because done() reads them with thread:get.
WRK_SCRIPT = """\
-- Written by bench/ingest.py.
-- Arguments after --: how many bodies, the path they share ("<path><n>.json", their signatures
-- in "<path><n>.sig"), a tag for delivery ids, then "Name: value" headers. Requests take the
-- bodies in turn.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  count = tonumber(args[1])
  bodies, signatures = {}, {}
  for n = 1, count do
    bodies[n] = slurp(args[2] .. n .. ".json")
    signatures[n] = slurp(args[2] .. n .. ".sig")
  end
  prefix = args[3] .. "-" .. thread_no .. "-"
  headers = {}
  for i = 4, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  sent, ok, refused = 0, 0, 0
end

function request()
  sent = sent + 1
  local n = sent % count + 1
  headers["X-GitHub-Delivery"] = prefix .. sent
  headers["X-Hub-Signature-256"] = signatures[n]
  return wrk.format("POST", nil, headers, bodies[n])
end

function response(status)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local all_sent, all_ok, all_refused = 0, 0, 0
  for _, thread in ipairs(threads) do
    all_sent = all_sent + thread:get("sent")
    all_ok = all_ok + thread:get("ok")
    all_refused = all_refused + thread:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH us=%d responses=%d ok=%d refused=%d sent=%d errors=%d p50_us=%.1f p99_us=%.1f\\n",
    summary.duration, summary.requests, all_ok, all_refused, all_sent,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Payload:
    """The signed request bodies a run sends in turn: the file's bytes as they are for one pull
    request, else a copy per pull request numbered 1 … n (each its own serial key, so the worker
    can take one event of each at once)."""

    file: Path
    bodies: tuple[bytes, ...]
    signatures: tuple[str, ...]

    @property
    def body(self) -> bytes:
        return self.bodies[0]

    def headers(self, delivery: str, n: int = 0) -> dict[str, str]:
        return STATIC_HEADERS | {
            "X-Hub-Signature-256": self.signatures[n % len(self.bodies)],
            "X-GitHub-Delivery": delivery,
        }

    def header_lines(self) -> list[str]:
        """The headers every request shares, as wrk's script takes them; it adds the delivery
        id and the body's signature itself."""
        return [f"{name}: {value}" for name, value in STATIC_HEADERS.items()]


@dataclass(frozen=True)
class Load:
    """What one measured run saw."""

    seconds: float
    responses: int
    ok: int
    refused: int
    # No answer at all: connect, read and write errors, timeouts.
    errors: int
    # Sent but not answered when the load stopped: wrk cannot drain before it exits.
    unanswered: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else math.nan


@dataclass(frozen=True)
class Outcome:
    """One server's run: its load figures, its rows and how it stopped."""

    name: str
    load: Load
    exit_code: int | None
    # Rows stored under this run's tag; None for the bare app, which stores nothing.
    rows: int | None = None
    log_lines: list[str] = field(default_factory=list)
    # CPU seconds its processes used during the measured load, by role (tree_cpu).
    cpu: dict[str, float] = field(default_factory=dict)

    def cpu_total(self) -> float:
        """CPU µs per acknowledged delivery, every role together; NaN when unknown."""
        if not self.cpu or not self.load.ok:
            return math.nan
        return sum(self.cpu.values()) * 1e6 / self.load.ok

    def cpu_line(self) -> str:
        """CPU per acknowledged delivery, by role, in µs; while the load ran the worker only
        handled what it had time for."""
        if not self.cpu or not self.load.ok:
            return ""
        each = {role: seconds * 1e6 / self.load.ok for role, seconds in self.cpu.items()}
        parts = ", ".join(f"{role} {each[role]:.0f}" for role in ROLES if self.cpu[role])
        return f"{self.name}: CPU µs per 2xx: {parts}; total {sum(each.values()):.0f}"

    @property
    def cut_off(self) -> int:
        """Requests that may have been stored without their answer being read."""
        return self.load.unanswered + self.load.errors

    @property
    def rows_match(self) -> bool:
        # Every 2xx stored, and nothing stored beyond what was sent.
        return self.rows is None or self.load.ok <= self.rows <= self.load.ok + self.cut_off

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and self.rows_match


@dataclass(frozen=True)
class Options:
    duration: int
    warmup: int
    connections: int
    threads: int
    tool: str
    only: str
    no_worker: bool
    processes: int = 1
    pull_requests: int = 1
    matrix: bool = False
    repeat: int = 1
    # Settings for hookwise alone (NAME=VALUE), e.g. HOOKWISE_WORKER_NICE=0.
    hookwise_env: tuple[str, ...] = ()


# The runner calls its last argument once the warm-up is over, as the measured load starts.
Runner = Callable[[str, Payload, Options, str, Callable[[], None]], Load]


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Whole seconds: wrk takes no fractions.
    parser.add_argument("--duration", type=int, default=10, help="measured seconds (10)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2); httpx ignores it")
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--only", choices=("both", "bare", "hookwise"), default="both")
    parser.add_argument(
        "--no-worker", action="store_true", help="serve webhooks only (hookwise serve --no-worker)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="web processes of each server (default: the cores, as hookwise serve)",
    )
    parser.add_argument(
        "--pull-requests",
        type=int,
        default=1,
        help="pull requests the deliveries take turns on (1: the file as it is, every event "
        "on one serial key, so the worker handles them one at a time)",
    )
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="N = 1 and N = 2, each: bare, hookwise, hookwise --no-worker",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of --matrix (1)")
    parser.add_argument(
        "--hookwise-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for hookwise's processes (repeatable), e.g. HOOKWISE_WORKER_NICE=0",
    )
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.hookwise_env):
        parser.error("--hookwise-env takes NAME=VALUE")
    if args.processes < 1 or args.pull_requests < 1 or args.repeat < 1:
        parser.error("--processes, --pull-requests and --repeat must be >= 1")
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("--duration, --connections and --threads must be >= 1, --warmup >= 0")
    # wrk refuses fewer connections than threads.
    threads = min(args.threads, args.connections)
    return Options(
        args.duration,
        args.warmup,
        args.connections,
        threads,
        args.tool,
        args.only,
        args.no_worker,
        args.processes,
        args.pull_requests,
        args.matrix,
        args.repeat,
        tuple(args.hookwise_env),
    )


def pick_tool(choice: str) -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if choice == "wrk" and not shutil.which("wrk"):
        raise BenchError("wrk is not installed (apt-get install wrk), or use --tool httpx")
    return choice


def load_payload(secret: str, pull_requests: int = 1) -> Payload:
    """The payload file signed with `secret`; with more than one pull request, a copy of it for
    each, numbered 1 … `pull_requests`, with a head commit of its own."""
    raw = PAYLOAD.read_bytes()
    bodies = [raw]
    if pull_requests > 1:
        decoded = json.loads(raw)
        bodies = []
        for number in range(1, pull_requests + 1):
            decoded["number"] = decoded["pull_request"]["number"] = number
            decoded["pull_request"]["head"]["sha"] = f"{number:040x}"
            bodies.append(json.dumps(decoded).encode())
    signatures = [
        "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for body in bodies
    ]
    return Payload(PAYLOAD, tuple(bodies), tuple(signatures))


def percentile_ms(sorted_seconds: list[float], pct: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_seconds:
        return math.nan
    rank = math.ceil(pct / 100 * len(sorted_seconds))
    return sorted_seconds[min(max(rank, 1), len(sorted_seconds)) - 1] * 1000


# --- load: wrk -------------------------------------------------------------------------------


def wrk_command(
    url: str, payload: Payload, opts: Options, tag: str, seconds: int, script: Path, bodies: str
) -> list[str]:
    return [
        "wrk",
        f"--threads={opts.threads}",
        f"--connections={opts.connections}",
        f"--duration={seconds}s",
        f"--timeout={int(REQUEST_TIMEOUT)}s",
        f"--script={script}",
        url,
        "--",
        str(len(payload.bodies)),
        bodies,
        tag,
        *payload.header_lines(),
    ]


def wrk_once(url: str, payload: Payload, opts: Options, tag: str, seconds: int) -> Load:
    with tempfile.TemporaryDirectory(prefix="hookwise-wrk-") as tmp:
        script = Path(tmp) / "ingest.lua"
        script.write_text(WRK_SCRIPT)
        for n, (body, signature) in enumerate(
            zip(payload.bodies, payload.signatures, strict=True), 1
        ):
            (Path(tmp) / f"body-{n}.json").write_bytes(body)
            (Path(tmp) / f"body-{n}.sig").write_text(signature)
        try:
            done = subprocess.run(
                wrk_command(url, payload, opts, tag, seconds, script, f"{tmp}/body-"),
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"wrk did not finish within {seconds + 60} s") from None
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures = {key: float(value) for key, value in (x.split("=") for x in line.split()[1:])}
    return Load(
        seconds=figures["us"] / 1e6,
        responses=int(figures["responses"]),
        ok=int(figures["ok"]),
        refused=int(figures["refused"]),
        errors=int(figures["errors"]),
        # wrk calls request() once more than it sends, to check the script's first request.
        unanswered=max(0, int(figures["sent"] - 1 - figures["responses"])),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )


def wrk_load(
    url: str, payload: Payload, opts: Options, tag: str, measuring: Callable[[], None]
) -> Load:
    if opts.warmup:
        wrk_once(url, payload, opts, f"{tag}w", opts.warmup)
    measuring()
    return wrk_once(url, payload, opts, tag, opts.duration)


# --- load: httpx -----------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    refused: int = 0
    errors: int = 0


async def client_loop(
    client: httpx.AsyncClient, url: str, payload: Payload, prefix: str, until: float, tally: Tally
) -> None:
    """One closed-loop client: the next request goes once the last is answered."""
    sent = 0
    while time.perf_counter() < until:
        sent += 1
        headers = payload.headers(f"{prefix}-{sent}", sent)
        body = payload.bodies[sent % len(payload.bodies)]
        start = time.perf_counter()
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            tally.errors += 1
            # A server that refuses connections would otherwise be hammered in a tight loop.
            await asyncio.sleep(0.01)
            continue
        tally.latencies.append(time.perf_counter() - start)
        if response.is_success:
            tally.ok += 1
        else:
            tally.refused += 1


async def httpx_run(
    clients: list[httpx.AsyncClient], url: str, payload: Payload, tag: str, seconds: int
) -> Load:
    tally = Tally()
    start = time.perf_counter()
    until = start + seconds
    # Every client finishes the request it has in flight, so nothing is left unanswered.
    await asyncio.gather(
        *(
            client_loop(client, url, payload, f"{tag}-{n}", until, tally)
            for n, client in enumerate(clients)
        )
    )
    elapsed = time.perf_counter() - start
    latencies = sorted(tally.latencies)
    return Load(
        seconds=elapsed,
        responses=len(latencies),
        ok=tally.ok,
        refused=tally.refused,
        errors=tally.errors,
        unanswered=0,
        p50_ms=percentile_ms(latencies, 50),
        p99_ms=percentile_ms(latencies, 99),
    )


async def httpx_session(
    url: str, payload: Payload, opts: Options, tag: str, measuring: Callable[[], None]
) -> Load:
    # A client of its own per connection: with one client sharing a pool of 32 connections,
    # httpx itself sent less than half as many requests, and that would pass for server time.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT)
            )
            for _ in range(opts.connections)
        ]
        # The same clients for warm-up and measurement: the measured run starts on open
        # connections.
        if opts.warmup:
            await httpx_run(clients, url, payload, f"{tag}w", opts.warmup)
        measuring()
        return await httpx_run(clients, url, payload, tag, opts.duration)


def httpx_load(
    url: str, payload: Payload, opts: Options, tag: str, measuring: Callable[[], None]
) -> Load:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(httpx_session(url, payload, opts, tag, measuring))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(httpx_session(url, payload, opts, tag, measuring))


RUNNERS: dict[str, Runner] = {"wrk": wrk_load, "httpx": httpx_load}


# --- CPU ------------------------------------------------------------------------------------

# Where a server's CPU goes, by the kind of process: its PostgreSQL processes (the embedded
# server's, children of hookwise), worker processes (the only ones hookwise runs niced), and the
# rest, which answer requests ("web": with one process and its worker on the loop, both).
ROLES = ("web", "worker", "postgres")


def tree_cpu(*roots: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by `roots` and their live descendants, by role:
    a PostgreSQL process by its name, a worker by its niceness, the rest web. {} without
    psutil (the embedded extra brings it)."""
    try:
        import psutil
    except ImportError:
        return {}
    used = dict.fromkeys(ROLES, 0.0)
    for root in roots:
        try:
            parent = psutil.Process(root)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            continue
        for process in processes:
            with suppress(psutil.Error):
                name, nice, times = process.name(), process.nice(), process.cpu_times()
                role = (
                    "postgres" if name.startswith("postgres") else "worker" if nice > 0 else "web"
                )
                used[role] += times.user + times.system
    return used


# --- servers ---------------------------------------------------------------------------------


def bare_server(secret: str, workdir: Path, processes: int = 1) -> AbstractContextManager[Server]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-server-header",
        "--log-level",
        "warning",
        "--workers",
        str(processes),
    ]
    env = clean_environment(BENCH_WEBHOOK_SECRET=secret)
    return running("bare", command, env, port, workdir)


def hookwise_server(
    secret: str,
    workdir: Path,
    *,
    no_worker: bool = False,
    processes: int = 1,
    extra_env: tuple[str, ...] = (),
) -> AbstractContextManager[Server]:
    port = free_port()
    env = clean_environment(
        GITHUB_WEBHOOK_SECRET=secret,
        HOST=HOST,
        PORT=str(port),
        # hookwise's own log level (INFO: a line per delivery, as a deployment writes them), to
        # its log file as JSON: its cost is part of what the figures measure.
        HOOKWISE_DATA_DIR=str(workdir / "data"),
    )
    if database_url := os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = database_url
    env |= dict(pair.split("=", 1) for pair in extra_env)
    command = [hookwise_command(), "serve", "--workers", str(processes)]
    command += ["--no-worker"] if no_worker else []
    return running("hookwise", command, env, port, workdir)


# --- rows ------------------------------------------------------------------------------------

COUNT_ROWS = "SELECT count(*) FROM integration_events WHERE delivery_id LIKE $1"


def embedded_dsn(pgdata: Path) -> str:
    """hookwise does not print its embedded server's DSN; postmaster.pid has port and socket."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql://postgres@/postgres?host={socket_dir}&port={port}"


def postmaster(workdir: Path) -> list[int]:
    """The embedded PostgreSQL's postmaster, which pg_ctl started apart from hookwise's own
    process tree; none with DATABASE_URL (a server shared with others is not counted)."""
    try:
        return [int((workdir / "data" / "pgdata" / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def rows_dsn(workdir: Path) -> str:
    return os.environ.get("DATABASE_URL") or embedded_dsn(workdir / "data" / "pgdata")


async def settled_count(dsn: str, tag: str) -> int:
    """The count once it stops moving: requests cut off by the load's end may still commit."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot connect to hookwise's database to count rows: {exc}") from exc
    try:
        last = -1
        for _ in range(20):
            count = int(await conn.fetchval(COUNT_ROWS, f"{tag}-%"))
            if count == last:
                return count
            last = count
            await asyncio.sleep(0.5)
        return last
    finally:
        await conn.close()


# --- the run ---------------------------------------------------------------------------------


def bench(name: str, secret: str, payload: Payload, opts: Options, tool: str) -> Outcome:
    tag = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="hookwise-bench-") as tmp:
        workdir = Path(tmp)
        rows = None
        if name == "bare":
            started = bare_server(secret, workdir, opts.processes)
        else:
            started = hookwise_server(
                secret,
                workdir,
                no_worker=opts.no_worker,
                processes=opts.processes,
                extra_env=opts.hookwise_env,
            )
        with started as server:
            print(f"{name}: ready at {server.base_url}; loading with {tool}", file=sys.stderr)
            before: dict[str, float] = {}
            roots = [server.process.pid]

            def measuring() -> None:
                roots.extend(postmaster(workdir))
                before.update(tree_cpu(*roots))

            load = RUNNERS[tool](server.webhook_url, payload, opts, tag, measuring)
            after = tree_cpu(*roots)
            cpu = {role: after[role] - before.get(role, 0.0) for role in after}
            if name == "hookwise":
                rows = asyncio.run(settled_count(rows_dsn(workdir), tag))
        return Outcome(name, load, server.exit_code, rows, warning_lines(server.log), cpu)


def format_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b and not (math.isnan(a) or math.isnan(b)) else "-"


COLUMNS = (
    ("server", 14),
    ("req/s", 10),
    ("p50 ms", 9),
    ("p99 ms", 9),
    ("answered", 10),
    ("2xx", 10),
    ("non-2xx", 9),
    ("errors", 8),
    ("unanswered", 12),
    ("rows", 10),
)


def table_line(cells: tuple[str, ...]) -> str:
    widths = [width for _, width in COLUMNS[: len(cells)]]
    line = cells[0].ljust(widths[0])
    line += "".join(cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True))
    return line.rstrip()


def outcome_cells(o: Outcome) -> tuple[str, ...]:
    load = o.load
    return (
        o.name,
        f"{load.rate:.1f}",
        format_ms(load.p50_ms),
        format_ms(load.p99_ms),
        str(load.responses),
        str(load.ok),
        str(load.refused),
        str(load.errors),
        str(load.unanswered),
        "-" if o.rows is None else str(o.rows),
    )


def table(outcomes: list[Outcome]) -> list[str]:
    lines = [table_line(tuple(name for name, _ in COLUMNS))]
    lines += [table_line(outcome_cells(o)) for o in outcomes]
    loads = {o.name: o.load for o in outcomes}
    if "bare" in loads and "hookwise" in loads:
        bare, hook = loads["bare"], loads["hookwise"]
        ratios = (
            ratio(hook.rate, bare.rate),
            ratio(hook.p50_ms, bare.p50_ms),
            ratio(hook.p99_ms, bare.p99_ms),
        )
        lines.append(table_line(("hookwise/bare", *ratios)))
    return lines


def rows_verdict(o: Outcome) -> str:
    """Acknowledged against stored; requests cut off when the load stopped may be stored too."""
    ok, rows = o.load.ok, o.rows
    if rows == ok:
        return f"{o.name}: 2xx {ok} = rows {rows}"
    if o.rows_match:
        return (
            f"{o.name}: 2xx {ok} < rows {rows}: {rows - ok} of the {o.cut_off} requests cut off "
            "when the load stopped were stored"
        )
    return f"{o.name}: MISMATCH: 2xx {ok}, rows {rows}, cut off {o.cut_off}"


def report(outcomes: list[Outcome], payload: Payload, opts: Options, tool: str) -> str:
    threads = f"{opts.threads} threads, " if tool == "wrk" else ""
    lines = [
        f"ingest: {tool}, {opts.connections} connections, {threads}{opts.duration} s measured "
        f"after {opts.warmup} s warm-up, {payload.file.name} ({len(payload.body)} bytes) "
        f"on {opts.pull_requests} pull request(s); "
        f"{opts.processes} web process(es) each, hookwise "
        + ("without a worker" if opts.no_worker else "with its worker")
        + f"; {os.cpu_count()} CPUs",
        "",
        *table(outcomes),
        "",
    ]
    lines += [rows_verdict(o) for o in outcomes if o.rows is not None]
    lines += [o.cpu_line() for o in outcomes if o.cpu_line()]
    lines.append("exit codes: " + ", ".join(f"{o.name} {o.exit_code}" for o in outcomes))
    for o in outcomes:
        if o.log_lines:
            lines.append(f"{o.name} logged {len(o.log_lines)} lines at WARNING+; the first:")
            lines += [f"  {line}" for line in o.log_lines[:5]]
    return "\n".join(lines)


MATRIX_PROCESSES = (1, 2)


def matrix(secret: str, payload: Payload, opts: Options, tool: str) -> int:
    """Each round, N = 1 then N = 2: bare, hookwise, hookwise --no-worker back to back; every
    run's report as it ends, then the ratios of each run to the bare app of its round and N."""
    summary = []
    clean = True
    for round_ in range(1, opts.repeat + 1):
        for processes in MATRIX_PROCESSES:
            runs = []
            for name, no_worker in (("bare", False), ("hookwise", False), ("hookwise", True)):
                run_opts = replace(opts, processes=processes, no_worker=no_worker)
                outcome = bench(name, secret, payload, run_opts, tool)
                print(report([outcome], payload, run_opts, tool) + "\n", flush=True)
                clean = clean and outcome.clean
                runs.append(outcome)
            bare, served, ingest_only = (run.load for run in runs)
            cpu = [run.cpu_total() for run in runs]
            summary.append(
                f"{round_:>5} {processes:>3} {bare.rate:>10.1f} {served.rate:>10.1f} "
                f"{ratio(served.rate, bare.rate):>7} {served.p99_ms:>8.1f} "
                f"{ingest_only.rate:>10.1f} {ratio(ingest_only.rate, bare.rate):>7} "
                f"{ingest_only.p99_ms:>8.1f} " + " ".join(f"{c:>7.0f}" for c in cpu)
            )
    print(
        "round   N     bare/s   hookwise   ratio  p99 ms  no-worker   ratio  p99 ms"
        "  µs/2xx: bare hookwise no-worker\n" + "\n".join(summary)
    )
    return 0 if clean else 1


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.matrix:
        try:
            tool = pick_tool(opts.tool)
            secret = secrets.token_hex(16)
            return matrix(secret, load_payload(secret, opts.pull_requests), opts, tool)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
    try:
        tool = pick_tool(opts.tool)
        secret = secrets.token_hex(16)
        payload = load_payload(secret, opts.pull_requests)
        names = ("bare", "hookwise") if opts.only == "both" else (opts.only,)
        outcomes = [bench(name, secret, payload, opts, tool) for name in names]
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(report(outcomes, payload, opts, tool))
    return 0 if all(o.clean for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
