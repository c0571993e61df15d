"""GET /metrics: this process's counters, and the queue as the database sees it at scrape time.

Under `hookwise serve --workers N` several processes share the port; whichever answers gathers
the others' counters from their own metrics ports (`?scope=process`: theirs alone, no queue)
and sums them (app.metrics.merge), so a scrape is whole.
"""

from __future__ import annotations

import hmac
import logging
from functools import partial

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.context import Context
from app.http import health
from app.metrics import CONTENT_TYPE, Family, Gauge, merge
from app.store import events
from app.store.errors import StoreUnavailable
from app.store.pool import connection
from app.store.statuses import EventStatus

log = logging.getLogger(__name__)

# A peer that does not answer in this long is left out of the scrape (and logged).
PEER_TIMEOUT = 2.0


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
    for status in EventStatus:
        depth.set(state.counts.get(status, 0), status=status)
    oldest = Gauge(
        "hookwise_queue_oldest_pending_seconds",
        "Age of the oldest pending event; 0 when none is pending.",
    )
    oldest.set(state.oldest_pending_seconds or 0.0)
    return [up, depth, oldest]


def authorized(request: Request, ctx: Context) -> bool:
    token = ctx.settings.admin.metrics_token
    if token is None:
        return True
    given = request.headers.get("authorization", "").encode()
    return hmac.compare_digest(given, b"Bearer " + token.get_secret_value().encode())


async def metrics(request: Request, *, ctx: Context, peers: tuple[str, ...] = ()) -> Response:
    if not authorized(request, ctx):
        return JSONResponse(
            {"error": "a bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if request.query_params.get("scope") == "process":
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
    text = ctx.metrics.render(await queue_families(ctx))
    if peers:
        text = merge([text, *await peer_texts(peers, request.headers.get("authorization"))])
    return Response(text, media_type=CONTENT_TYPE)


async def peer_texts(urls: tuple[str, ...], authorization: str | None) -> list[str]:
    """The other processes' own figures, from their /metrics URLs (on this machine)."""
    headers = {"authorization": authorization} if authorization else {}
    texts = []
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT, headers=headers) as client:
        for url in urls:
            try:
                response = await client.get(url, params={"scope": "process"})
                response.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("metrics of the process at %s left out: %s", url, exc)
                continue
            texts.append(response.text)
    return texts


def metrics_app(ctx: Context) -> Starlette:
    """What `hookwise worker` serves on HOOKWISE_METRICS_PORT: it has no other web server."""
    routes = [
        Route("/metrics", partial(metrics, ctx=ctx)),
        Route("/healthz", health.healthz),
    ]
    return Starlette(routes=routes)
