"""Read a request body without ever holding more than the limit, or more than the budget."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.types import Receive

from app.deliveries import BodyTimeout, BodyTooLarge, Busy, IncompleteBody, MissingHeader
from app.http.budget import Lanes


def declared_length(value: str | None, limit: int) -> int | None:
    """Content-Length as a number (None when absent: a chunked body).

    Raises MissingHeader (400) for a malformed value and BodyTooLarge (413) for one over
    `limit`, so neither needs a byte of the body.
    """
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise MissingHeader("Content-Length header is malformed")
    length = int(value)
    if length > limit:
        raise BodyTooLarge(f"body is larger than {limit} bytes")
    return length


async def read_limited(receive: Receive, limit: int, *, declared: str | None) -> bytes:
    """The whole body from ASGI `receive`; BodyTooLarge as soon as it is known to be too large
    (from Content-Length, `declared`, before reading anything), IncompleteBody if the client
    hangs up first. No budget: for small forms, not webhooks."""
    declared_length(declared, limit)
    chunks = []
    size = 0
    while True:
        chunk, more = await _next_chunk(receive, size)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


async def _next_chunk(receive: Receive, size: int) -> tuple[bytes, bool]:
    message = await receive()
    if message["type"] == "http.disconnect":
        # A refusal, not a server error: nobody is left to answer, and no traceback is due.
        raise IncompleteBody(f"the client went away after {size} bytes of the body")
    return message.get("body", b""), message.get("more_body", False)


@contextlib.asynccontextmanager
async def budgeted_body(
    receive: Receive, lanes: Lanes, *, limit: int, declared: int | None, within: float
) -> AsyncIterator[bytearray]:
    """The whole body, read against the process's budget; its bytes are given back on exit.

    `declared` is the Content-Length (None: chunked). Raises Busy (503) when the bytes were not
    free within `lanes.wait` seconds, BodyTimeout (408) when the body took longer than
    `within` seconds in all, BodyTooLarge (413), IncompleteBody (400). The body is one
    bytearray filled in place, never a list of chunks joined at the end: held once, not twice.
    """
    large = lanes.is_large(declared)
    budget = lanes.large if large else lanes.small
    taken = 0

    async def take(n: int, started: float) -> None:
        nonlocal taken
        # The wait is for the whole request, however many chunks it asks for.
        if not await budget.acquire(n, wait=max(lanes.wait - (time.monotonic() - started), 0.0)):
            raise Busy()
        taken += n

    try:
        try:
            async with asyncio.timeout(within):
                started = time.monotonic()
                if large:
                    # Admitted whole: a flood of large bodies is read a few at a time, and the
                    # rest refused before a byte of theirs is read.
                    await take(limit if declared is None else declared, started)
                body = bytearray(declared or 0) if large else bytearray()
                size = 0
                while True:
                    chunk, more = await _next_chunk(receive, size)
                    end = size + len(chunk)
                    if end > limit:
                        raise BodyTooLarge(f"body is larger than {limit} bytes")
                    if not large:
                        await take(len(chunk), started)
                    if end <= len(body):
                        body[size:end] = chunk
                    else:
                        body += chunk
                    size = end
                    if not more:
                        break
        except TimeoutError:
            raise BodyTimeout(f"the body did not arrive within {within:g} s") from None
        if size < len(body):
            raise IncompleteBody(f"the body ended after {size} of {len(body)} bytes")
        yield body
    finally:
        budget.release(taken)


async def read_body(request: Request, limit: int) -> bytes:
    return await read_limited(
        request.receive, limit, declared=request.headers.get("content-length")
    )
