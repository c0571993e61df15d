"""Errors become short JSON answers; no stack trace ever reaches a client.

The webhook endpoint (a bare ASGI app, see app/http/webhooks.py) and Starlette's exception
handlers (everything else) log and answer a refusal alike, from the functions here.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.deliveries import WebhookError
from app.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = {"error": "storage unavailable, try again later"}
UNAVAILABLE_HEADERS = {"Retry-After": "5"}
INTERNAL = {"error": "internal error"}


def log_refusal(exc: WebhookError, *, method: str, path: str, client: str) -> None:
    log.warning(
        "refused %s %s from %s: %s (%d)",
        method,
        path,
        client,
        exc.reason,
        exc.status_code,
        extra={"action": "webhook_refused", "status": exc.status_code},
    )


def log_unavailable(exc: Exception, *, path: str) -> None:
    log.error("storage unavailable for %s: %s", path, exc, extra={"action": "store_unavailable"})


def log_server_error(*, path: str) -> None:
    """Call from an except block: the traceback goes to the log, never to the client."""
    log.exception("unexpected error on %s", path, extra={"action": "server_error"})


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


async def webhook_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebhookError)
    log_refusal(exc, method=request.method, path=request.url.path, client=_client(request))
    return JSONResponse({"error": exc.reason}, status_code=exc.status_code)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log_unavailable(exc, path=request.url.path)
    return JSONResponse(UNAVAILABLE, status_code=503, headers=UNAVAILABLE_HEADERS)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such route: 404, wrong method: 405) as JSON like ours."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log_server_error(path=request.url.path)
    return JSONResponse(INTERNAL, status_code=500)


EXCEPTION_HANDLERS = {
    WebhookError: webhook_error,
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: server_error,
}
