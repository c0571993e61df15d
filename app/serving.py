"""The long-running processes: the web app and a worker (serve), or workers alone (worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from app.context import open_context
from app.handlers import routers
from app.http import create_app
from app.http.server import make_server
from app.router import Router
from app.settings import Settings
from app.signals import stop_on_signals
from app.store import migrations
from app.store.pool import connect
from app.worker import Worker

log = logging.getLogger("hookwise")


def default_router() -> Router:
    return Router(*routers())


async def apply_migrations(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        return await migrations.migrate(conn)
    finally:
        await conn.close()


async def serve(settings: Settings, dsn: str, *, migrate: bool, worker: bool) -> None:
    if migrate:
        applied = await apply_migrations(dsn)
        log.info("migrations: %s", ", ".join(applied) if applied else "up to date")
    async with open_context(settings, dsn) as ctx:
        if not ctx.integration_ids:
            log.warning("no webhook source is configured: set GITHUB_WEBHOOK_SECRET")
        server = make_server(create_app(ctx), host=settings.host, port=settings.port)
        parts: list[tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], None]]] = [
            (server.serve, server.stop)
        ]
        if worker:
            runner = Worker(ctx, default_router())
            parts.append((runner.run, runner.stop))
        log.info(
            "serving webhooks for %s on http://%s:%d%s",
            ", ".join(ctx.integration_ids) or "no source",
            settings.host,
            settings.port,
            " with a worker" if worker else "",
        )
        await run_together(parts)
    log.info("stopped")


async def work(settings: Settings, dsn: str, *, concurrency: int | None) -> None:
    async with open_context(settings, dsn) as ctx:
        runner = Worker(ctx, default_router(), concurrency=concurrency)
        await run_together([(runner.run, runner.stop)])


async def run_together(
    parts: list[tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], None]]],
) -> None:
    """Run each part until a stop signal, or until one ends: then stop them all."""

    def stop_all() -> None:
        for _, stop in parts:
            stop()

    with stop_on_signals(stop_all):
        tasks = [asyncio.create_task(start()) for start, _ in parts]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop_all()
        await asyncio.gather(*tasks)
