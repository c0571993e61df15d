"""Hookwise on a real uvicorn in the test's own loop, reached over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp

from app.context import Context, open_context
from app.http import create_app
from app.http.server import make_server
from app.settings import Settings


def listening_socket() -> socket.socket:
    """A loopback socket already listening, so clients may connect before uvicorn accepts."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every keep-alive response waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    return sock


def free_port() -> int:
    """A loopback port nothing listens on (for a moment): for servers started as processes."""
    with listening_socket() as sock:
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on uvicorn in this event loop; yields its base URL, http://127.0.0.1:PORT."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    server = make_server(app, host="127.0.0.1", port=port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await task
        sock.close()


@dataclass
class Running:
    ctx: Context
    url: str
    client: httpx.AsyncClient


@asynccontextmanager
async def running_hookwise(settings: Settings, dsn: str) -> AsyncIterator[Running]:
    async with (
        open_context(settings, dsn) as ctx,
        serving(create_app(ctx)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Running(ctx=ctx, url=url, client=client)
