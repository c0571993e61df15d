"""A lean load: prebuilt HTTP/1.1 requests over keep-alive connections, paced, in a process of
its own.

The benchmarks share two cores with the server, PostgreSQL and (bench/dispatch.py) the worker,
so what the load costs is taken from what it measures. An httpx client spends ~1 ms of CPU a
request here and could not offer more than ~350 deliveries a second; this one spends a few tens
of microseconds: every request is serialized before the clock starts (request line, headers,
signature, body: bytes), each connection is an asyncio Protocol that writes them and feeds the
answers to httptools' parser (llhttp, what uvicorn parses requests with), and nothing else runs.

`connections` keep-alive connections are opened before the clock starts; each sends one request
at a time (no pipelining, as GitHub's deliveries) and takes the next one from a shared list when
its answer came, so the requests go out in the list's order. With `rate` (requests a second),
request i is written no earlier than i / rate seconds after the first; a request whose
connections are all busy at its time is written late, and `Sent` says how late. Without it the
connections send as fast as they are answered.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import signal
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import cast
from urllib.parse import urlsplit

import httptools

from app.cli import run as run_on_uvloop
from bench.servers import BenchError

REQUEST_TIMEOUT = 30.0
# Spawned, not forked: a fork would copy the caller's running event loop and its connections.
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Outgoing:
    """One signed request, ready to POST."""

    delivery_id: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Sent:
    """What the load did. Times are time.time() seconds."""

    first_post: float
    last_post: float
    last_answer: float
    offered: int
    statuses: dict[int, int]
    # No answer at all (connect errors, resets, timeouts): the first few, for the report.
    errors: list[str]
    error_count: int
    # How late requests were written against `rate`, in ms: p50, p99, max; nan without rate.
    late_ms: tuple[float, float, float]
    # The sender process's CPU (user + system) from the first request to the last answer.
    cpu_seconds: float

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    @property
    def offered_rate(self) -> float:
        """Requests written a second, over the span from the first write to the last."""
        span = self.last_post - self.first_post
        return (self.offered - 1) / span if span > 0 else math.nan


def wire(url: str, outgoing: Sequence[Outgoing]) -> list[bytes]:
    """Each request as the bytes a keep-alive HTTP/1.1 POST to `url` puts on the wire."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise BenchError(f"the sender speaks plain http only: {url}")
    target = parts.path or "/"
    requests = []
    for item in outgoing:
        head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{name}: {value}" for name, value in item.headers.items()]
        head.append(f"Content-Length: {len(item.body)}")
        requests.append(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + item.body)
    return requests


class _Exchange(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight; httptools calls back
    on_message_complete when an answer is whole."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[int] | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, though they behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable answer: {exc}"))

    def on_message_complete(self) -> None:
        self.reusable = self._parser.should_keep_alive()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    async def post(self, request: bytes) -> int:
        """Write `request`; the answer's status. Raises ConnectionError or TimeoutError."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        # A timer, not asyncio.wait_for: that makes a task a request (Python 3.11).
        self._timeout = loop.call_later(
            REQUEST_TIMEOUT, self._fail, TimeoutError(f"no answer after {REQUEST_TIMEOUT:.0f} s")
        )
        self._transport.write(request)
        try:
            return await self._answer
        finally:
            self._timeout.cancel()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _open(host: str, port: int) -> _Exchange:
    loop = asyncio.get_running_loop()
    _, exchange = await loop.create_connection(_Exchange, host, port)
    return exchange


async def post_all(url: str, requests: list[bytes], connections: int, rate: float = 0.0) -> Sent:
    """Send `requests` (wire()'s bytes) to `url` over `connections` keep-alive connections;
    with `rate` (requests a second), request i no earlier than i / rate seconds after the
    first. Raises BenchError when a connection cannot be opened before the start."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    try:
        exchanges = await asyncio.gather(*(_open(host, port) for _ in range(connections)))
    except OSError as exc:
        raise BenchError(f"cannot connect to {url}: {exc}") from None
    # One iterator shared by all connections: each takes the next request when it is free.
    pending: Iterator[tuple[int, bytes]] = iter(enumerate(requests))
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    late: list[float] = []
    posted = [math.inf, -math.inf]
    loop = asyncio.get_running_loop()

    async def sender(exchange: _Exchange) -> None:
        for n, request in pending:
            if rate:
                due = start + n / rate
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                late.append(max(0.0, loop.time() - due))
            now = loop.time()
            posted[0], posted[1] = min(posted[0], now), max(posted[1], now)
            try:
                if not exchange.reusable:
                    exchange.close()
                    exchange = await _open(host, port)
                statuses[await exchange.post(request)] += 1
            except (OSError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    cpu = time.process_time()
    # Our loop's clock and the wall clock the caller compares with, read together.
    wall = time.time() - loop.time()
    start = loop.time()
    try:
        await asyncio.gather(*(sender(exchange) for exchange in exchanges))
        end = loop.time()
    finally:
        for exchange in exchanges:
            exchange.close()
    return Sent(
        first_post=wall + posted[0],
        last_post=wall + posted[1],
        last_answer=wall + end,
        offered=len(requests),
        statuses=dict(statuses),
        errors=errors[:5],
        error_count=len(errors),
        late_ms=_late_ms(late),
        cpu_seconds=time.process_time() - cpu,
    )


def _late_ms(late: list[float]) -> tuple[float, float, float]:
    if len(late) < 2:
        return (math.nan,) * 3
    cuts = statistics.quantiles(late, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(late) * 1000


def send_all(
    url: str, outgoing: list[Outgoing], connections: int, rate: float, results: Connection
) -> None:
    """The sender process: build the requests, send them, then send back what happened."""
    # The parent decides when to stop and terminates us; a Ctrl-C here would only add noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = wire(url, outgoing)
    try:
        sent: Sent | BenchError = run_on_uvloop(post_all(url, requests, connections, rate))
    except BenchError as exc:
        sent = exc
    results.send(sent)
    results.close()


async def send(url: str, outgoing: list[Outgoing], connections: int, rate: float = 0.0) -> Sent:
    """POST `outgoing` from a process of our own, leaving this event loop (and its CPU) to the
    caller meanwhile. Raises BenchError when the sender could not run."""
    receiver, results = SPAWN.Pipe(duplex=False)
    process = SPAWN.Process(
        target=send_all,
        args=(url, outgoing, connections, rate, results),
        name="bench-sender",
        daemon=True,
    )
    process.start()
    results.close()
    try:
        # In a thread: a reader on the loop would leave the pipe non-blocking under recv()
        # (uvloop), which then fails on an answer larger than the pipe's buffer.
        answer: Sent | BenchError = await asyncio.to_thread(receiver.recv)
    except EOFError:
        raise BenchError("the sender process died before it answered") from None
    finally:
        # Still running only when we were interrupted: nothing more should reach the server.
        if process.is_alive():
            process.terminate()
        process.join()
        receiver.close()
    if isinstance(answer, BenchError):
        raise answer
    return answer
