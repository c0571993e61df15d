"""A bare HTTP/1.1 client on asyncio streams, one keep-alive connection each.

For sending many requests from a test or benchmark process: httpx spends about 1.6 ms of CPU on
a request here, four times what hookwise spends answering it, so a load from httpx measures
httpx. It also sends what httpx refuses to (header values of spaces or control characters), and
never raises: an exchange that got no answer is an Answer with status 0 and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

CHUNK = 16 * 1024


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer came back
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # lower-case names
    body: bytes = field(default=b"", repr=False)
    error: str = ""  # why there was no answer


def encode(
    method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes, *, chunked: bool
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    if not chunked:
        return head + body
    parts = [head]
    for start in range(0, len(body), CHUNK):
        piece = body[start : start + CHUNK]
        parts += [f"{len(piece):x}\r\n".encode(), piece, b"\r\n"]
    return b"".join([*parts, b"0\r\n\r\n"])


class RawHTTP:
    """Requests one after another on one connection, reconnecting when the server closes it."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        chunked: bool = False,
    ) -> Answer:
        data = encode(method, path, headers, body, chunked=chunked)
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(data)
        except TimeoutError:
            await self.close()
            return Answer(0, error="timed out")
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            return Answer(0, error=type(exc).__name__)

    async def _exchange(self, data: bytes) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        # Not drained first: a server may answer (413) before it has read the whole body.
        writer.write(data)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("closed before answering")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()  # until the server closes
            headers["connection"] = "close"
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, body)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
