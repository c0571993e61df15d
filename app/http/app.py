"""create_app(ctx): the ASGI app. POST /webhooks/… goes straight to its endpoint; everything else
is a Starlette app built from plain route and handler lists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.context import Context
from app.http import admin, health, metrics
from app.http.errors import EXCEPTION_HANDLERS
from app.http.webhooks import PREFIX, Webhooks
from app.store import migrations
from app.store.group_commit import GroupCommit


class App:
    """Deliveries skip the framework (see app/http/webhooks.py); the rest, lifespan included,
    is Starlette's."""

    def __init__(self, webhooks: Webhooks, rest: ASGIApp) -> None:
        self.webhooks = webhooks
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(PREFIX)
        ):
            await self.webhooks(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def create_app(ctx: Context, *, metrics_peers: Sequence[str] = ()) -> App:
    """`metrics_peers`: the /metrics URLs of the other processes sharing this one's port
    (app/processes.py), whose figures /metrics gathers."""
    group = GroupCommit(ctx.pool)
    webhooks = Webhooks(ctx, group.store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await group.close()

    routes = [
        # Only POST reaches it from here; any other method gets Starlette's 405.
        Route("/webhooks/{source}", webhooks, methods=["POST"]),
        Route("/healthz", health.healthz),
        Route("/readyz", partial(health.readyz, ctx=ctx, expected=migrations.load())),
        Route("/metrics", partial(metrics.metrics, ctx=ctx, peers=tuple(metrics_peers))),
        # Empty without HOOKWISE_ADMIN_TOKEN: then /admin does not exist at all.
        *admin.routes(ctx),
    ]
    rest = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    return App(webhooks, rest)
