"""GET /healthz (the process answers) and GET /readyz (the database answers, schema current)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.context import Context
from app.store import migrations
from app.store.errors import StoreUnavailable
from app.store.pool import connection


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(
    request: Request, *, ctx: Context, expected: list[migrations.Migration]
) -> JSONResponse:
    try:
        async with connection(ctx.pool) as conn:
            current = await migrations.is_current(conn, expected)
    except StoreUnavailable:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if not current:
        return JSONResponse({"status": "unavailable", "migrations": "pending"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "migrations": "current"})
