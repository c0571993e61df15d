"""POST /webhooks/{source}: verify, store, commit, answer. Nothing else happens here."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.context import Context
from app.deliveries import Delivery, WebhookError, parse_github, parse_linear
from app.http.body import read_body
from app.store.errors import StoreUnavailable
from app.store.events import Stored

log = logging.getLogger(__name__)

Parser = Callable[..., Delivery]
# Stores a delivery and returns once it is committed (app/store/group_commit.py).
Store = Callable[[int, Delivery], Awaitable[Stored]]


class UnknownSource(WebhookError):
    """This source is not configured."""

    status_code = 404


def parsers(ctx: Context) -> dict[str, Parser]:
    """A signature-checking parser for each enabled source, its secrets bound."""
    settings = ctx.settings
    known: dict[str, Parser] = {
        "github": partial(parse_github, secrets=settings.secrets_for("github")),
        "linear": partial(
            parse_linear,
            secrets=settings.secrets_for("linear"),
            tolerance=settings.linear_timestamp_tolerance,
        ),
    }
    return {source: known[source] for source in ctx.integration_ids}


async def verified(
    request: Request, source: str, *, ctx: Context, parsers: Mapping[str, Parser]
) -> Delivery:
    """The request's delivery, signature checked, or WebhookError."""
    parse = parsers.get(source)
    if parse is None:
        raise UnknownSource(f"source {source!r} is not configured")
    body = await read_body(request, ctx.settings.max_body_bytes)
    return parse(request.headers, body, now=time.time())


async def receive(
    request: Request, *, ctx: Context, parsers: Mapping[str, Parser], store: Store
) -> JSONResponse:
    started = time.monotonic()
    source = request.path_params["source"]
    try:
        delivery = await verified(request, source, ctx=ctx, parsers=parsers)
    except WebhookError as exc:
        # Unsigned headers are anyone's to invent: they must not name series of their own.
        known = source if source in parsers else "unknown"
        ctx.metrics.deliveries.inc(source=known, event="unverified", outcome=str(exc.status_code))
        raise
    try:
        stored = await store(ctx.integration_ids[source], delivery)
    except StoreUnavailable:
        ctx.metrics.deliveries.inc(source=source, event=delivery.event_type, outcome="503")
        raise
    outcome = "duplicate" if stored.duplicate else "stored"
    ctx.metrics.deliveries.inc(source=source, event=delivery.event_type, outcome=outcome)
    log.info(
        "%s %s %s%s",
        outcome,
        source,
        delivery.event_type,
        f".{delivery.action}" if delivery.action else "",
        extra={
            "action": f"webhook_{outcome}",
            "source": source,
            "event": delivery.event_type,
            "event_action": delivery.action,
            "installation": delivery.installation_id,
            "delivery_id": delivery.delivery_id,
            "event_id": str(stored.id),
            "outcome": outcome,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    if stored.duplicate:
        return JSONResponse(
            {"duplicate": True, "id": str(stored.id), "delivery": delivery.delivery_id},
            status_code=200,
        )
    return JSONResponse({"id": str(stored.id), "delivery": delivery.delivery_id}, status_code=202)
