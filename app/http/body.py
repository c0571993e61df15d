"""Read a request body without ever holding more than the limit."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from app.deliveries import BodyTooLarge, IncompleteBody


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body is larger than {limit} bytes")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # A refusal, not a server error: nobody is left to answer, and no traceback is due.
        raise IncompleteBody(f"the client went away after {size} bytes of the body") from None
    return b"".join(chunks)
