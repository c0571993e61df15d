"""POST /webhooks/{source}: verify, store, commit, answer. Nothing else happens here.

A bare ASGI app rather than a Starlette endpoint: at a few thousand deliveries a second, the
request objects, middleware, routing and response classes cost as much CPU as everything this
path does itself (issue 9), and it needs none of them. app/http/app.py hands POST /webhooks/…
straight to it; Starlette routes the same path here too, so other methods still get its 405.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import msgspec
from starlette.types import Receive, Scope, Send

from app.context import Context
from app.deliveries import (
    Delivery,
    WebhookError,
    check_github_headers,
    check_linear_headers,
    parse_github,
    parse_linear,
)
from app.http import errors
from app.http.body import budgeted_body, declared_length
from app.http.budget import Lanes
from app.http.refusals import RefusalLog, client_address
from app.store.errors import StoreUnavailable
from app.store.events import Stored

log = logging.getLogger(__name__)

PREFIX = "/webhooks/"
JSON_HEADERS = [(b"content-type", b"application/json")]

Parser = Callable[..., Delivery]
HeaderCheck = Callable[[Mapping[str, str]], None]
# Stores a delivery and returns once it is committed (app/store/group_commit.py).
Store = Callable[[int, Delivery], Awaitable[Stored]]


class UnknownSource(WebhookError):
    """This source is not configured."""

    status_code = 404
    kind = "unknown_source"


def parsers(ctx: Context) -> dict[str, tuple[HeaderCheck, Parser]]:
    """For each enabled source: the check of its headers alone (made before reading the body)
    and its signature-checking parser, secrets bound."""
    webhooks = ctx.settings.webhooks
    known: dict[str, tuple[HeaderCheck, Parser]] = {
        "github": (
            check_github_headers,
            partial(parse_github, secrets=webhooks.secrets_for("github")),
        ),
        "linear": (
            check_linear_headers,
            partial(
                parse_linear,
                secrets=webhooks.secrets_for("linear"),
                tolerance=webhooks.linear_timestamp_tolerance,
                retry_window=webhooks.linear_retry_window,
            ),
        ),
    }
    return {source: known[source] for source in ctx.integration_ids}


def lanes(ctx: Context) -> Lanes:
    settings = ctx.settings.web
    return Lanes.sized(
        *settings.body_lanes,
        threshold=settings.large_body_bytes,
        wait=settings.inflight_wait,
    )


def header_dict(scope: Scope) -> dict[str, str]:
    """Lower-case names to values; of a repeated header the first counts, as in Starlette."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


# A stored delivery is 202 Accepted: handled later. Linear's docs ask a consumer for HTTP 200
# and treat anything else as failed (retried after 1 minute, 1 hour and 6 hours, then the
# webhook may be disabled): https://linear.app/developers/webhooks
STORED_STATUS = {"linear": 200}

# A refusal that comes before the whole body was read closes the connection after it: else
# uvicorn would go on reading (and discarding) the rest, however slowly or largely it comes.
CLOSE = {"Connection": "close"}


async def answer(
    send: Send, status: int, content: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    body = msgspec.json.encode(content)
    raw = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    raw.extend((name.lower().encode(), value.encode()) for name, value in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Webhooks:
    """The ASGI app for POST /webhooks/{source}."""

    def __init__(self, ctx: Context, store: Store) -> None:
        self.ctx = ctx
        self.parsers = parsers(ctx)
        self.lanes = lanes(ctx)
        self.refusals = RefusalLog()
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        try:
            await self.receive(path.removeprefix(PREFIX), scope, receive, send)
        except WebhookError as exc:
            client = client_address(scope, self.ctx.settings.web.client_ip_header)
            self.refusals.log(
                exc, method=scope["method"], path=path, client=client, now=time.monotonic()
            )
            headers = exc.headers if exc.body_read else {**exc.headers, **CLOSE}
            await answer(send, exc.status_code, {"error": exc.reason}, headers)
        except StoreUnavailable as exc:
            errors.log_unavailable(exc, path=path)
            await answer(send, 503, errors.UNAVAILABLE, errors.UNAVAILABLE_HEADERS)
        except Exception:
            errors.log_server_error(path=path)
            await answer(send, 500, errors.INTERNAL)

    async def receive(self, source: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        metrics = self.ctx.metrics
        settings = self.ctx.settings.web
        try:
            found = self.parsers.get(source)
            if found is None:
                raise UnknownSource(f"source {source!r} is not configured")
            check_headers, parse = found
            headers = header_dict(scope)
            # Everything that needs no body is refused before a byte of it is read.
            check_headers(headers)
            declared = declared_length(headers.get("content-length"), settings.max_body_bytes)
            async with budgeted_body(
                receive,
                self.lanes,
                limit=settings.max_body_bytes,
                declared=declared,
                within=settings.body_timeout,
            ) as body:
                try:
                    delivery = parse(headers, body, now=time.time())
                except WebhookError as exc:
                    exc.body_read = True
                    raise
                await self.stored(source, delivery, started, send)
        except WebhookError as exc:
            # Unsigned headers are anyone's to invent: they must not name series of their own.
            known = source if source in self.parsers else "unknown"
            metrics.deliveries.inc(source=known, event="unverified", outcome=str(exc.status_code))
            metrics.refusals.inc(source=known, reason=exc.kind)
            raise

    async def stored(self, source: str, delivery: Delivery, started: float, send: Send) -> None:
        """Store an authentic delivery and answer 202, or 200 for one already stored."""
        metrics = self.ctx.metrics
        try:
            stored = await self.store(self.ctx.integration_ids[source], delivery)
        except StoreUnavailable:
            metrics.deliveries.inc(source=source, event=delivery.event_type, outcome="503")
            raise
        outcome = "duplicate" if stored.duplicate else "stored"
        metrics.deliveries.inc(source=source, event=delivery.event_type, outcome=outcome)
        if log.isEnabledFor(logging.INFO):
            log_stored(delivery, stored, outcome, time.monotonic() - started)
        if stored.duplicate:
            content = {"duplicate": True, "id": str(stored.id), "delivery": delivery.delivery_id}
            await answer(send, 200, content)
        else:
            content = {"id": str(stored.id), "delivery": delivery.delivery_id}
            await answer(send, STORED_STATUS.get(source, 202), content)


def log_stored(delivery: Delivery, stored: Stored, outcome: str, seconds: float) -> None:
    log.info(
        "%s %s %s%s",
        outcome,
        delivery.source,
        delivery.event_type,
        f".{delivery.action}" if delivery.action else "",
        extra={
            "action": f"webhook_{outcome}",
            "source": delivery.source,
            "event": delivery.event_type,
            "event_action": delivery.action,
            "installation": delivery.installation_id,
            "delivery_id": delivery.delivery_id,
            "event_id": str(stored.id),
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 1),
        },
    )
