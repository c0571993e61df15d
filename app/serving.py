"""The long-running processes: the web app and a worker (serve), or workers alone (worker)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any

import asyncpg

from app import processes, reconcile, redeliver
from app.context import Context, open_context
from app.handlers import routers
from app.http import create_app
from app.http.metrics import metrics_app
from app.http.server import make_server, raise_open_file_limit
from app.router import Router
from app.schedule import Every
from app.settings import Settings
from app.signals import stop_on_signals
from app.store import migrations
from app.store.errors import NotMigrated
from app.store.pool import connect, connection
from app.worker import Worker
from app.workflows import manual

log = logging.getLogger("hookwise")

# A long-running piece of a process: how to run it, and how to ask it to stop.
Part = tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], None]]


def default_router() -> Router:
    return Router(*routers())


async def apply_migrations(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        return await migrations.migrate(conn)
    finally:
        await conn.close()


async def check_migrations(dsn: str) -> None:
    """Return when every migration on disk is applied, unchanged; raise NotMigrated otherwise
    (a command would stop at its first missing table with asyncpg's traceback). Writes
    nothing: schema_migrations may not exist yet."""
    conn = await connect(dsn)
    try:
        current = await migrations.is_current(conn, migrations.load())
    finally:
        await conn.close()
    if not current:
        raise NotMigrated(
            "the database lacks migrations this version of hookwise needs: run `hookwise migrate`"
            " (`hookwise serve` applies them as it starts)"
        )


async def serve(settings: Settings, dsn: str, *, migrate: bool, worker: bool) -> None:
    if migrate:
        applied = await apply_migrations(dsn)
        log.info(
            "migrations: %s",
            ", ".join(applied) if applied else "up to date",
            extra={"action": "migrations", "applied": applied},
        )
    async with open_context(settings, dsn) as ctx:
        if not ctx.integration_ids:
            log.warning("no webhook source is configured: set GITHUB_WEBHOOK_SECRET")
        raise_open_file_limit(settings.web.max_connections)
        server = make_server(
            create_app(ctx),
            host=settings.web.host,
            port=settings.web.port,
            max_connections=settings.web.max_connections,
        )
        parts: list[Part] = [(server.serve, server.stop)]
        if worker:
            parts.extend(worker_parts(ctx, concurrency=None))
        log.info(
            "serving webhooks for %s on http://%s:%d%s",
            ", ".join(ctx.integration_ids) or "no source",
            settings.web.host,
            settings.web.port,
            " with a worker" if worker else "",
        )
        freeze_startup_objects()
        await run_together(parts)
    log.info("stopped")


async def serve_web_process(
    settings: Settings, dsn: str, *, metrics: tuple[str, int], peers: list[str]
) -> None:
    """One of `serve --workers N`'s web processes (app/processes.py): webhooks on a socket of
    its own sharing the port (SO_REUSEPORT), its own figures on `metrics` (host, port), and
    /metrics on the shared port gathering `peers`' too. No worker, no migrations."""
    async with open_context(settings, dsn) as ctx:
        raise_open_file_limit(settings.web.max_connections)
        sock = processes.reuse_port_socket(settings.web.host, settings.web.port)
        # Listening from here on: a connection waits in the backlog until the server accepts it.
        log.info(
            "web process %d listening on http://%s:%d",
            os.getpid(),
            settings.web.host,
            settings.web.port,
            extra={"action": "web_process_listening", "pid": os.getpid()},
        )
        server = make_server(
            create_app(ctx, metrics_peers=peers),
            host=settings.web.host,
            port=settings.web.port,
            max_connections=settings.web.max_connections,
        )
        own = make_server(metrics_app(ctx), host=metrics[0], port=metrics[1])
        parts: list[Part] = [
            (partial(server.serve, sockets=[sock]), server.stop),
            (own.serve, own.stop),
        ]
        freeze_startup_objects()
        try:
            await run_together(parts)
        finally:
            sock.close()


async def work(
    settings: Settings,
    dsn: str,
    *,
    concurrency: int | None,
    on_connect: Callable[[asyncpg.Connection], None] | None = None,
) -> None:
    """A worker process: the worker, its schedules, and /metrics when HOOKWISE_METRICS_PORT is
    set; `on_connect` gets each pooled connection as it opens (app/processes.py lowers its
    backend's priority)."""
    async with open_context(settings, dsn, on_connect=on_connect) as ctx:
        parts = worker_parts(ctx, concurrency=concurrency)
        if settings.web.metrics_port:
            server = make_server(
                metrics_app(ctx), host=settings.web.host, port=settings.web.metrics_port
            )
            parts.append((server.serve, server.stop))
            log.info(
                "serving metrics on http://%s:%d/metrics",
                settings.web.host,
                settings.web.metrics_port,
            )
        freeze_startup_objects()
        await run_together(parts)


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, classes, settings, the pool) out of the collector's way.

    A full collection walks every tracked object and stops the event loop while it does: under
    ingest load that was ~110 ms every two seconds, the whole p99. Frozen objects are never
    walked, so a full collection covers only what was made since.
    """
    gc.collect()
    gc.freeze()


def worker_parts(ctx: Context, *, concurrency: int | None) -> list[Part]:
    """The worker, and beside it the redelivery and reconcile schedules when they are set."""
    runner = Worker(ctx, default_router(), concurrency=concurrency)
    parts: list[Part] = [(runner.run, runner.stop)]
    parts.extend(reconcile_parts(ctx))
    parts.extend(schedule_parts(ctx))
    every = ctx.settings.worker.redeliver_every
    if every and ctx.github is not None:
        github = ctx.github

        async def redeliver_once() -> None:
            outcomes = await redeliver.scheduled_run(github, ctx.pool)
            if outcomes:
                log.info("scheduled redelivery asked for %d deliveries", len(outcomes))

        schedule = Every(every, redeliver_once, name="redeliver")
        parts.append((schedule.run, schedule.stop))
    return parts


def reconcile_parts(ctx: Context) -> list[Part]:
    """Queue a reconcile of each repository not looked at for HOOKWISE_RECONCILE_EVERY."""
    every = ctx.settings.worker.reconcile_every
    if not every or ctx.github is None:
        return []
    interval = timedelta(seconds=every)

    async def reconcile_once() -> None:
        async with connection(ctx.pool) as conn:
            queued = await reconcile.scheduled_run(conn, every=interval)
        if queued:
            log.info(
                "scheduled reconcile of %d repositories",
                len(queued),
                extra={"action": "reconcile_scheduled"},
            )

    schedule = Every(min(every, reconcile.TICK), reconcile_once, name="reconcile")
    return [(schedule.run, schedule.stop)]


# How often the worker looks for a declared workflow's `schedule:` slot that came: cron's
# resolution is a minute.
SCHEDULE_TICK = 30.0


def schedule_parts(ctx: Context) -> list[Part]:
    """Start the declared workflows whose cron slot came, once per slot across workers."""
    if ctx.github is None:
        return []

    async def schedules_once() -> None:
        async with connection(ctx.pool) as conn:
            started = await manual.scheduled_run(conn)
        if started:
            log.info(
                "started %d scheduled workflows", started, extra={"action": "workflows_scheduled"}
            )

    schedule = Every(SCHEDULE_TICK, schedules_once, name="workflow schedules")
    return [(schedule.run, schedule.stop)]


async def run_together(parts: list[Part]) -> None:
    """Run each part until a stop signal, or until one ends: then stop them all."""

    def stop_all() -> None:
        for _, stop in parts:
            stop()

    with stop_on_signals(stop_all):
        tasks = [asyncio.create_task(start()) for start, _ in parts]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop_all()
        await asyncio.gather(*tasks)
