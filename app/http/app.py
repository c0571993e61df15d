"""create_app(ctx): the Starlette app, built from plain route and handler lists."""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette
from starlette.routing import Route

from app.context import Context
from app.http import health, metrics, webhooks
from app.http.errors import EXCEPTION_HANDLERS
from app.store import migrations


def create_app(ctx: Context) -> Starlette:
    routes = [
        Route(
            "/webhooks/{source}",
            partial(webhooks.receive, ctx=ctx, parsers=webhooks.parsers(ctx)),
            methods=["POST"],
        ),
        Route("/healthz", health.healthz),
        Route("/readyz", partial(health.readyz, ctx=ctx, expected=migrations.load())),
        Route("/metrics", partial(metrics.metrics, ctx=ctx)),
    ]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
