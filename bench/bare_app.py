"""The upper limit for ingest: Starlette on uvicorn verifying the signature, and nothing else.

It shares no code with hookwise on purpose: whatever hookwise adds (parsing, the database, its
middleware) shows up as the gap between the two. The secret comes from BENCH_WEBHOOK_SECRET.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET = os.environ["BENCH_WEBHOOK_SECRET"].encode()


async def receive(request: Request) -> JSONResponse:
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    given = request.headers.get("x-hub-signature-256", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JSONResponse({"error": "signature does not match"}, status_code=401)
    # A body of the same shape as hookwise's, so both send about as many bytes back.
    return JSONResponse({"delivery": request.headers.get("x-github-delivery", "")}, status_code=202)


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/webhooks/github", receive, methods=["POST"]),
        Route("/readyz", readyz),
    ]
)
