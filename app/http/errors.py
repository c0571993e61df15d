"""Errors become short JSON answers; no stack trace ever reaches a client."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.deliveries import WebhookError
from app.store.errors import StoreUnavailable

log = logging.getLogger(__name__)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


async def webhook_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebhookError)
    log.warning(
        "refused %s %s from %s: %s (%d)",
        request.method,
        request.url.path,
        _client(request),
        exc.reason,
        exc.status_code,
        extra={"action": "webhook_refused", "status": exc.status_code},
    )
    return JSONResponse({"error": exc.reason}, status_code=exc.status_code)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "storage unavailable for %s: %s",
        request.url.path,
        exc,
        extra={"action": "store_unavailable"},
    )
    return JSONResponse(
        {"error": "storage unavailable, try again later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path, extra={"action": "server_error"})
    return JSONResponse({"error": "internal error"}, status_code=500)


EXCEPTION_HANDLERS = {
    WebhookError: webhook_error,
    StoreUnavailable: store_unavailable,
    Exception: server_error,
}
