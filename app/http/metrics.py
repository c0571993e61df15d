"""GET /metrics: this process's counters, and the queue as the database sees it at scrape time."""

from __future__ import annotations

import hmac
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.context import Context
from app.http import health
from app.metrics import CONTENT_TYPE, Family, Gauge
from app.store import events
from app.store.errors import StoreUnavailable
from app.store.pool import connection

STATUSES = ("pending", "processing", "completed", "ignored", "failed")


async def queue_families(ctx: Context) -> list[Family]:
    """Queue depth and the oldest pending event's age. Read from the database, not counted in
    the process: every process sees the same queue, whichever one stored or handled an event."""
    up = Gauge("hookwise_database_up", "1 when the database answered this scrape, else 0.")
    try:
        async with connection(ctx.pool) as conn:
            state = await events.queue_status(conn, top_errors=0)
    except StoreUnavailable:
        up.set(0)
        return [up]
    up.set(1)
    depth = Gauge("hookwise_queue_events", "Stored events by status.", ("status",))
    for status in STATUSES:
        depth.set(state.counts.get(status, 0), status=status)
    oldest = Gauge(
        "hookwise_queue_oldest_pending_seconds",
        "Age of the oldest pending event; 0 when none is pending.",
    )
    oldest.set(state.oldest_pending_seconds or 0.0)
    return [up, depth, oldest]


def authorized(request: Request, ctx: Context) -> bool:
    token = ctx.settings.metrics_token
    if token is None:
        return True
    given = request.headers.get("authorization", "").encode()
    return hmac.compare_digest(given, b"Bearer " + token.get_secret_value().encode())


async def metrics(request: Request, *, ctx: Context) -> Response:
    if not authorized(request, ctx):
        return JSONResponse(
            {"error": "a bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    text = ctx.metrics.render(await queue_families(ctx))
    return Response(text, media_type=CONTENT_TYPE)


def metrics_app(ctx: Context) -> Starlette:
    """What `hookwise worker` serves on HOOKWISE_METRICS_PORT: it has no other web server."""
    routes = [
        Route("/metrics", partial(metrics, ctx=ctx)),
        Route("/healthz", health.healthz),
    ]
    return Starlette(routes=routes)
