"""Read a request body without ever holding more than the limit."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive

from app.deliveries import BodyTooLarge, IncompleteBody


async def read_limited(receive: Receive, limit: int, *, declared: str | None) -> bytes:
    """The whole body from ASGI `receive`; BodyTooLarge as soon as it is known to be too large
    (from Content-Length, `declared`, before reading anything), IncompleteBody if the client
    hangs up first."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body is larger than {limit} bytes")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # A refusal, not a server error: nobody is left to answer, and no traceback is due.
            raise IncompleteBody(f"the client went away after {size} bytes of the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    return await read_limited(
        request.receive, limit, declared=request.headers.get("content-length")
    )
