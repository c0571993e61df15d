"""Ingest under junk (issue 22): what is refused before its body is read, the budget for bodies
in memory, the body read timeout, and refusals counted and logged without flooding the log."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg
import pytest

from app.settings import Settings
from tests.fixtures import github_example
from tests.harness import Running, running_hookwise
from tests.signing import github_headers

PR_BODY = json.dumps(github_example("pull_request", "opened")).encode()
# Bounds, not pacing: an answer that has not come by then is a failure.
ANSWER_WITHIN = 20.0


class Conn:
    """One raw connection: send what a test wants, when it wants, and read the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Conn:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the answer; (0, {}, b"") if the server closed instead."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), ANSWER_WITHIN)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        body = await self.reader.readexactly(int(headers.get("content-length", 0)))
        return int(lines[0].split()[1]), headers, body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), ANSWER_WITHIN) == b""

    def close(self) -> None:
        self.writer.close()


def head(headers: dict[str, str], *, length: int | None, path: str = "/webhooks/github") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() != name.lower()}


REFUSED_FROM_HEADERS = {
    "no signature": (without(github_headers(PR_BODY, "pull_request"), "X-Hub-Signature-256"), 401),
    "signature not a digest": (
        github_headers(PR_BODY, "pull_request") | {"X-Hub-Signature-256": "sha256=nothex"},
        401,
    ),
    "no event": (without(github_headers(PR_BODY, "pull_request"), "X-GitHub-Event"), 400),
    "no delivery id": (without(github_headers(PR_BODY, "pull_request"), "X-GitHub-Delivery"), 400),
}


@pytest.mark.parametrize("case", sorted(REFUSED_FROM_HEADERS))
async def test_what_needs_no_body_is_refused_before_the_body_is_sent(
    hookwise: Running, db: asyncpg.Connection, case: str
) -> None:
    headers, status = REFUSED_FROM_HEADERS[case]
    conn = await Conn.open(hookwise.url)
    try:
        # The headers promise a body that never comes: an answer proves none of it was awaited.
        await conn.send(head(headers, length=len(PR_BODY)))
        answered, response_headers, body = await conn.answer()
        assert answered == status
        assert "error" in json.loads(body)
        assert response_headers["connection"] == "close"
        assert await conn.closed()
    finally:
        conn.close()
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 0


@pytest.mark.parametrize(
    ("path", "length", "status", "reason"),
    [
        ("/webhooks/gitlab", "10", 404, "source 'gitlab' is not configured"),
        ("/webhooks/github", str(26 * 1024 * 1024), 413, "body is larger than 26214400 bytes"),
        # uvicorn's own parser refuses this one, in plain text, before hookwise sees it.
        ("/webhooks/github", "12abc", 400, None),
    ],
)
async def test_unknown_source_and_length_refused_before_the_body(
    hookwise: Running, path: str, length: str, status: int, reason: str | None
) -> None:
    headers = github_headers(PR_BODY, "pull_request") | {"Content-Length": length}
    conn = await Conn.open(hookwise.url)
    try:
        # The answer comes with no body sent.
        await conn.send(
            head(headers, length=None, path=path).replace(b"Transfer-Encoding: chunked\r\n", b"")
        )
        answered, _, body = await conn.answer()
    finally:
        conn.close()
    assert answered == status
    if reason is not None:
        assert json.loads(body) == {"error": reason}


def budgeted(settings: Settings, **changes: object) -> Settings:
    """A budget of 72 KiB: 18 KiB for small bodies (≤ 1 KiB), 54 KiB for large ones (≤ 48 KiB).
    Checked as the environment's settings are: a large lane that cannot hold the largest body
    is a configuration error."""
    values = {
        "HOOKWISE_MAX_INFLIGHT_BYTES": 72 * 1024,
        "HOOKWISE_LARGE_BODY_BYTES": 1024,
        "HOOKWISE_MAX_BODY_BYTES": 48 * 1024,
        "HOOKWISE_INFLIGHT_WAIT": 0.2,
    } | changes
    return settings.with_env(**values)


async def test_a_large_body_waits_for_the_budget_then_is_refused_503_while_small_ones_pass(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    big = json.dumps({"action": "opened", "pad": "x" * 40_000}).encode()
    async with running_hookwise(budgeted(settings), dsn) as hookwise:
        holder = await Conn.open(hookwise.url)
        try:
            # Admitted whole (40 KB of the large lane's 54 KiB), then half of it sent: it holds
            # its share while the rest is on the way.
            await holder.send(head(github_headers(big, "pull_request"), length=len(big)))
            await holder.send(big[:1000])
            crowded = await hookwise.client.post(
                "/webhooks/github", content=big, headers=github_headers(big, "pull_request")
            )
            assert crowded.status_code == 503
            assert crowded.headers["retry-after"] == "5"
            assert crowded.json() == {
                "error": "Too many request bodies are being read at once; try again later."
            }
            # Small deliveries have a lane of their own.
            small = await hookwise.client.post(
                "/webhooks/github",
                content=b'{"action": "opened"}',
                headers=github_headers(b'{"action": "opened"}', "pull_request"),
            )
            assert small.status_code == 202
            await holder.send(big[1000:])
            assert (await holder.answer())[0] == 202
        finally:
            holder.close()
        again = await hookwise.client.post(
            "/webhooks/github", content=big, headers=github_headers(big, "pull_request")
        )
        assert again.status_code == 202
        metrics = (await hookwise.client.get("/metrics")).text
    assert 'hookwise_webhook_refusals_total{source="github",reason="busy"} 1' in metrics
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 3


async def test_small_bodies_count_the_bytes_that_arrived_not_the_bytes_declared(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # Twenty connections each declare a 1 KiB body and send one byte of it: 20 KiB declared, over
    # the small lane's 18 KiB, but only 20 bytes are held, so deliveries still get in.
    async with running_hookwise(budgeted(settings), dsn) as hookwise:
        body = b'{"action": "opened"}'
        trickles = [await Conn.open(hookwise.url) for _ in range(20)]
        try:
            for conn in trickles:
                await conn.send(head(github_headers(b"x" * 1024, "push"), length=1024) + b"{")
            response = await hookwise.client.post(
                "/webhooks/github", content=body, headers=github_headers(body, "pull_request")
            )
            assert response.status_code == 202
        finally:
            for conn in trickles:
                conn.close()
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 1


async def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closed(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    async with running_hookwise(budgeted(settings, HOOKWISE_BODY_TIMEOUT=0.3), dsn) as hookwise:
        for body in (PR_BODY[:900], PR_BODY):  # the small lane and the large lane
            conn = await Conn.open(hookwise.url)
            try:
                await conn.send(head(github_headers(body, "pull_request"), length=len(body)))
                await conn.send(body[:100])
                status, headers, answer = await conn.answer()
                assert status == 408
                assert json.loads(answer) == {"error": "the body did not arrive within 0.3 s"}
                assert headers["connection"] == "close"
                assert await conn.closed()
            finally:
                conn.close()
        # The bytes those two held were given back: a whole large body fits again.
        response = await hookwise.client.post(
            "/webhooks/github", content=PR_BODY, headers=github_headers(PR_BODY, "pull_request")
        )
        assert response.status_code == 202
        metrics = (await hookwise.client.get("/metrics")).text
    assert 'hookwise_webhook_refusals_total{source="github",reason="body_timeout"} 2' in metrics
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 1


async def test_refusals_are_counted_each_and_logged_once_a_minute_per_client(
    settings: Settings, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    forged = github_headers(PR_BODY, "pull_request", secret="not the secret")
    proxied = settings.with_env(HOOKWISE_CLIENT_IP_HEADER="Fly-Client-IP")
    async with running_hookwise(proxied, dsn) as hookwise:
        with caplog.at_level(logging.WARNING, logger="app.http.errors"):
            for client in ["203.0.113.7"] * 5 + ["198.51.100.9"] * 2:
                response = await hookwise.client.post(
                    "/webhooks/github", content=PR_BODY, headers=forged | {"Fly-Client-IP": client}
                )
                assert response.status_code == 401
        metrics = (await hookwise.client.get("/metrics")).text
    assert 'hookwise_webhook_refusals_total{source="github",reason="signature"} 7' in metrics
    refused = [r for r in caplog.records if getattr(r, "action", "") == "webhook_refused"]
    assert [(r.client, r.reason, r.status) for r in refused] == [
        ("203.0.113.7", "signature", 401),
        ("198.51.100.9", "signature", 401),
    ]
