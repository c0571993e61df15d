"""`hookwise serve --workers N`: ingest on every core.

One Python process answers ~3,000 deliveries a second on one core; a second core needs a second
process. The supervisor (the process `serve` started) migrates once, then spawns N web
processes, each with a socket of its own bound to the same host and port with SO_REUSEPORT, so
the kernel spreads connections across them, and M worker processes (`hookwise worker`), sized
apart: ingest is one core's work per process, handling is the database's. With one web process
and one worker, the worker runs on the web's event loop, in one process, unless
HOOKWISE_WORKER_APART asks for a process of its own. It forwards SIGINT
and SIGTERM to them and waits; if one ends on its own, it stops the rest and exits 1.

Each child serves its own figures on a metrics port of its own: HOOKWISE_METRICS_PORT + 0 … N-1
for the web processes and the next M for the workers when that is set, else free ports on the
loopback. /metrics on the shared port gathers every process's figures (app/http/metrics.py), so
one scrape of it is whole whichever process answers.

Ingest first: GitHub waits 10 s for an answer and does not retry by itself, while handling may
lag a burst and catch up after it. So the worker processes run at a lower CPU priority
(HOOKWISE_WORKER_NICE, 10 by default), and with the embedded database their PostgreSQL backends
too: when the cores are busy the web processes and their backends run first, and the worker
takes what they leave. The worker's LISTEN connection keeps its priority: its backend holds the
notification queue's lock that every ingest commit needs, and lowered it made them wait on it.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing.process import BaseProcess
from types import FrameType

import asyncpg

from app import logs
from app.settings import Settings

log = logging.getLogger("hookwise")

# Spawned, not forked: a fork would copy the supervisor's embedded-database handle and state.
SPAWN = multiprocessing.get_context("spawn")
# Seconds the supervisor waits for its children to stop before it kills them, at least; more
# when a worker's grace asks for it (stop_timeout).
STOP_TIMEOUT = 60.0
# What a worker does after its grace: cancels and releases the events still in flight, stops
# its schedules and closes its pool.
STOP_MARGIN = 30.0
LISTEN_BACKLOG = 2048


def stop_timeout(settings: Settings) -> float:
    """Seconds to wait for the children to stop before killing them: never within a worker's
    HOOKWISE_SHUTDOWN_GRACE and what follows it (STOP_MARGIN). A fixed wait shorter than a grace
    set longer killed a worker while its events still ran, their leases then left to expire."""
    return max(STOP_TIMEOUT, settings.worker.shutdown_grace + STOP_MARGIN)


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Plan:
    """Which processes `serve` runs: `web` web processes and `workers` worker processes."""

    web: int
    workers: int
    # A lone worker beside one web process in a process of its own, not on the web's loop.
    apart: bool = False

    @property
    def single(self) -> bool:
        """One process does it all: one web process, and its worker (if any) on its loop."""
        return self.web == 1 and (self.workers == 0 or (self.workers == 1 and not self.apart))


@dataclass(frozen=True)
class MetricsAt:
    """Where one child serves its own /metrics."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/metrics"


def metrics_places(settings: Settings, plan: Plan) -> list[MetricsAt]:
    """Each child's own metrics server, web processes first: HOOKWISE_METRICS_PORT + n on HOST
    when set (to scrape each process apart), else free ports on the loopback, for the gathering
    alone."""
    count = plan.web + plan.workers
    if settings.web.metrics_port:
        return [MetricsAt(settings.web.host, settings.web.metrics_port + n) for n in range(count)]
    return [MetricsAt("127.0.0.1", _free_port()) for _ in range(count)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def _web_child(settings: Settings, dsn: str, metrics: MetricsAt, peers: list[str]) -> None:
    from app import serving
    from app.cli import run

    _child_logs(settings)
    run(serving.serve_web_process(settings, dsn, metrics=(metrics.host, metrics.port), peers=peers))


def _worker_child(settings: Settings, dsn: str, metrics: MetricsAt) -> None:
    from app import serving
    from app.cli import run

    _child_logs(settings)
    nice = settings.worker.nice
    on_connect = None
    if nice and lower_priority(os.getpid(), nice):
        # A backend of a database elsewhere is not a process of this machine.
        backends = settings.database.url is None
        if backends:
            on_connect = partial(lower_backend_priority, nice=nice)
        log.info(
            "worker process %d runs at niceness %d%s",
            os.getpid(),
            nice,
            ", its database backends too" if backends else "",
            extra={
                "action": "worker_priority",
                "pid": os.getpid(),
                "nice": nice,
                "backends": backends,
            },
        )
    settings = settings.with_changes(web={"host": metrics.host, "metrics_port": metrics.port})
    run(serving.work(settings, dsn, concurrency=None, on_connect=on_connect))


def lower_priority(pid: int, nice: int) -> bool:
    """Raise process `pid`'s niceness to `nice` (0-19) unless it is already that high; False
    (and a warning logged) when the system does not allow it or the process is gone."""
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError as exc:
        log.warning(
            "cannot lower the CPU priority of process %d: %s",
            pid,
            exc.strerror or exc,
            extra={"action": "priority_not_lowered"},
        )
        return False
    return True


def lower_backend_priority(conn: asyncpg.Connection, *, nice: int) -> None:
    """A pooled connection's PostgreSQL backend at the worker's priority: it does the worker's
    work on the same cores (the embedded database only)."""
    lower_priority(conn.get_server_pid(), nice)


def _child_logs(settings: Settings) -> None:
    logs.configure(
        settings.logging.level_for(quiet=False),
        format=settings.logging.format,
        secrets=logs.secret_values(settings),
    )


def supervise(settings: Settings, dsn: str, plan: Plan) -> int:
    """Run the plan's processes until a stop signal or until one ends; the exit code."""
    # Binding here first settles port 0 to a real port, and fails early when it is taken. This
    # socket never listens, so the kernel gives it no connection.
    holder = socket.socket(socket.AF_INET6 if ":" in settings.web.host else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((settings.web.host, settings.web.port))
    settings = settings.with_changes(web={"port": holder.getsockname()[1]})
    places = metrics_places(settings, plan)
    children: list[BaseProcess] = []
    for n in range(plan.web):
        peers = [place.url for i, place in enumerate(places) if i != n]
        children.append(
            SPAWN.Process(
                target=_web_child,
                args=(settings, dsn, places[n], peers),
                name=f"hookwise-web-{n}",
            )
        )
    for n in range(plan.workers):
        children.append(
            SPAWN.Process(
                target=_worker_child,
                args=(settings, dsn, places[plan.web + n]),
                name=f"hookwise-worker-{n}",
            )
        )
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start()
        log.info(
            "serving webhooks on http://%s:%d with %d web and %d worker processes",
            settings.web.host,
            settings.web.port,
            plan.web,
            plan.workers,
            extra={"action": "processes_started", "web": plan.web, "workers": plan.workers},
        )
        ended = _wait(children, lambda: stopping)
        for child in children:
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout(settings)
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.error("%s did not stop in time: killing it", child.name)
                child.kill()
                child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
    if ended is not None:
        log.error(
            "%s ended with exit code %s: stopped the others",
            ended.name,
            ended.exitcode,
            extra={"action": "process_ended"},
        )
        return 1
    return 0


def _wait(children: list[BaseProcess], stopping: object) -> BaseProcess | None:
    """Until a stop signal (None) or a child ending by itself (that child)."""
    sentinels = {child.sentinel: child for child in children}
    while not stopping():  # type: ignore[operator]
        ready = multiprocessing.connection.wait(list(sentinels), timeout=0.2)
        if ready:
            return sentinels[ready[0]]  # type: ignore[index]
    return None
