"""create_app(ctx): the Starlette app, built from plain route and handler lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.routing import Route

from app.context import Context
from app.http import admin, health, metrics, webhooks
from app.http.errors import EXCEPTION_HANDLERS
from app.store import migrations
from app.store.group_commit import GroupCommit


def create_app(ctx: Context) -> Starlette:
    group = GroupCommit(ctx.pool)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await group.close()

    routes = [
        Route(
            "/webhooks/{source}",
            partial(webhooks.receive, ctx=ctx, parsers=webhooks.parsers(ctx), store=group.store),
            methods=["POST"],
        ),
        Route("/healthz", health.healthz),
        Route("/readyz", partial(health.readyz, ctx=ctx, expected=migrations.load())),
        Route("/metrics", partial(metrics.metrics, ctx=ctx)),
        # Empty without HOOKWISE_ADMIN_TOKEN: then /admin does not exist at all.
        *admin.routes(ctx),
    ]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
