"""Drill: every delivery sent twice at once, through two `hookwise serve` processes (each with
its worker) on one database, as a retrying proxy or a redelivery racing the original would.

Deliveries: for each of 20 pull requests on the fake GitHub, `opened` (hookwise reviews it and
writes a summary comment), then its failing check (hookwise posts a check run and a review with
the fix), and 2,000 `push` deliveries that only fill the queue. Each copy goes to another server
at the same moment, with the same GUID, body and signature. Then: one row per delivery, one of
each pair answered 202 and the other 200 duplicate, and on the fake GitHub exactly one review,
one summary comment, one check run and one fix review per pull request.

The second server gets each window of 32 deliveries shuffled, so the two group commits insert
the same rows in different orders. Before events.store_many sorted its rows, that deadlocked
PostgreSQL (a 500 for every delivery of the batch that lost, and a reset connection).
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg

from app.context import open_context
from app.deliveries import Delivery
from app.settings import Settings
from app.store import events
from app.store.pool import connection
from tests.conftest import GITHUB_SECRET
from tests.drills.conftest import Figures
from tests.drills.raw_http import RawHTTP
from tests.drills.support import STEP_TIMEOUT, count_lines, serve, server_env
from tests.drills.world import Pulls, effects, expected, model_for
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub, webhook_headers
from tests.harness import free_port
from tests.processes import Logged, Served

PULLS = 20
PUSHES = 2000
IN_FLIGHT = 32  # pairs at once
SEED = 8


def reacting_env(dsn: str, github: FakeGitHub, model: FakeAnthropic) -> dict[str, str]:
    return server_env(
        dsn,
        free_port(),
        GITHUB_API_URL=github.url,
        GITHUB_APP_ID=str(github.app_id),
        GITHUB_PRIVATE_KEY=github.private_key_pem,
        ANTHROPIC_API_KEY=model.api_key,
        ANTHROPIC_BASE_URL=model.url,
        HOOKWISE_REVIEW="true",
        HOOKWISE_FIX="true",
        # Two processes each keep their own second between writes: that is GitHub's manners,
        # not the property under test, and would make this drill minutes long.
        HOOKWISE_GITHUB_WRITE_INTERVAL="0",
    )


def push(number: int) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "after": f"{number:040x}",
        "repository": {"id": 1, "full_name": "octo-org/widgets"},
        "installation": {"id": 1},
    }


class Twice:
    """Sends each delivery to both servers at once and keeps the pair of answers.

    Deliveries go in windows of IN_FLIGHT; the second server gets each window shuffled, so the
    two servers' group commits hold the same deliveries in different orders.
    """

    def __init__(self, github: FakeGitHub, ports: list[int]) -> None:
        self.github = github
        # A connection per delivery of a window, per server.
        self.clients = [[RawHTTP("127.0.0.1", port) for _ in range(IN_FLIGHT)] for port in ports]
        self.answers: dict[str, list[str]] = {}
        self.random = random.Random(SEED)

    def shuffled(
        self, window: list[tuple[bytes, dict[str, str]]]
    ) -> list[tuple[bytes, dict[str, str]]]:
        return self.random.sample(window, len(window))

    def signed(self, event: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        headers = webhook_headers(
            event,
            body,
            guid=str(uuid.uuid4()),
            hook_id=self.github.hook_id,
            app_id=self.github.app_id,
            secret=GITHUB_SECRET,
        )
        return body, headers

    async def one(self, server: int, slot: int, body: bytes, headers: dict[str, str]) -> None:
        client = self.clients[server][slot]
        answer = await client.request("POST", "/webhooks/github", headers.items(), body)
        outcome = str(answer.status) if answer.status else answer.error
        self.answers[headers["X-GitHub-Delivery"]][server] = outcome

    async def close(self) -> None:
        for clients in self.clients:
            for client in clients:
                await client.close()

    async def all(self, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
        signed = [self.signed(event, payload) for event, payload in deliveries]
        for _, headers in signed:
            self.answers[headers["X-GitHub-Delivery"]] = ["", ""]
        async with asyncio.timeout(STEP_TIMEOUT):
            for start in range(0, len(signed), IN_FLIGHT):
                window = signed[start : start + IN_FLIGHT]
                await asyncio.gather(
                    *(self.one(0, n, *signed) for n, signed in enumerate(window)),
                    *(self.one(1, n, *signed) for n, signed in enumerate(self.shuffled(window))),
                )


async def test_each_delivery_twice_through_two_servers(
    dsn: str, db: asyncpg.Connection, fake_github: FakeGitHub, figures: Figures
) -> None:
    pulls = Pulls(fake_github, PULLS)
    lines: queue.Queue[str | None] = queue.Queue()
    servers: list[Served] = []
    async with FakeAnthropic() as model:
        model_for(model)
        try:
            ports = []
            for _ in range(2):
                env = reacting_env(dsn, fake_github, model)
                server, _ = await serve(env=env, lines=lines)
                servers.append(server)
                ports.append(int(env["PORT"]))
            twice = Twice(fake_github, ports)
            started = time.monotonic()
            first = [("pull_request", pulls.opened(n)) for n in pulls.numbers]
            first += [("push", push(n)) for n in range(PUSHES)]
            await twice.all(first)
            sent = time.monotonic()
            await count_lines(
                lines,
                # A push is handled (it may change .github/hookwise.yml); these do not.
                {
                    Logged.of("event_completed", event="pull_request", event_action="opened"): (
                        PULLS
                    ),
                    Logged.of("event_completed", event="push"): PUSHES,
                },
            )
            await twice.all([("check_run", pulls.failed_check(n)) for n in pulls.numbers])
            # A PR's executions run in start order: its analysis completes after its review.
            await count_lines(
                lines,
                {
                    Logged.of("event_completed", event="check_run", event_action="completed"): (
                        PULLS
                    ),
                    Logged.of("execution_completed", workflow="hookwise.analyse_failure"): PULLS,
                },
            )
            handled = time.monotonic()
            await twice.close()
            for server in servers:
                assert server.interrupt() == 0
        finally:
            for server in servers:
                server.kill()

    pairs = Counter(tuple(sorted(pair)) for pair in twice.answers.values())
    by_server = Counter(pair.index("202") for pair in twice.answers.values() if "202" in pair)
    figures(
        f"{len(twice.answers)} deliveries x 2 servers (windows of {IN_FLIGHT}, shuffled for B):"
        f" answer pairs {dict(pairs)}; first copy stored by server A {by_server[0]},"
        f" by server B {by_server[1]}"
    )
    rows = await db.fetchval("SELECT count(*) FROM integration_events")
    distinct = await db.fetchval(
        "SELECT count(DISTINCT (source, hook_id, delivery_id)) FROM integration_events"
    )
    statuses = dict(
        await db.fetch(
            "SELECT status || ':' || attempts, count(*) FROM integration_events GROUP BY 1"
        )
    )
    landed = effects(fake_github)
    wanted = expected(pulls, checks=True)
    kinds = Counter(kind for kind, _ in landed.elements())
    sent_actions = await db.fetch(
        "SELECT kind, status, attempts, count(*) AS n FROM outbound_actions GROUP BY 1, 2, 3"
    )
    figures(
        f"rows {rows} (distinct deliveries {distinct}), events by status:attempts {statuses};"
        f" sent in {sent - started:.1f} s, all handled {handled - started:.1f} s after the first"
    )
    figures(
        f"on the fake GitHub: {dict(kinds)} for {PULLS} pull requests; duplicates"
        f" {sum(n - 1 for n in landed.values() if n > 1)}; model calls {len(model.calls)};"
        f" outbound_actions {[tuple(r) for r in sent_actions]}"
    )
    assert pairs == Counter({("200", "202"): len(twice.answers)})
    assert rows == distinct == len(twice.answers) == 2 * PULLS + PUSHES
    assert landed == wanted
    assert len(model.calls) == 2 * PULLS


ROUNDS = 100
BATCH = 50


async def test_two_batches_in_opposite_orders_never_deadlock(
    settings: Settings, dsn: str, db: asyncpg.Connection, figures: Figures
) -> None:
    """The same race one level down, without the luck: two group commits holding the same
    deliveries in opposite orders, at once. Before the rows were sorted, about one round in ten
    ended in `deadlock detected` (a 500 for a whole batch)."""
    async with open_context(settings, dsn) as ctx:
        github = ctx.integration_ids["github"]

        async def store(batch: list[events.Incoming]) -> list[events.Stored]:
            async with connection(ctx.pool) as conn:
                return await events.store_many(conn, batch)

        started = time.monotonic()
        for _ in range(ROUNDS):
            batch = [
                await events.incoming(
                    github, Delivery("github", "1", str(uuid.uuid4()), "push", None, {}, b"{}")
                )
                for _ in range(BATCH)
            ]
            forward, backward = await asyncio.gather(store(batch), store(batch[::-1]))
            assert (
                sorted(s.duplicate for s in forward + backward) == [False] * BATCH + [True] * BATCH
            )
        elapsed = time.monotonic() - started
    rows = await db.fetchval("SELECT count(*) FROM integration_events")
    figures(
        f"{ROUNDS} rounds of two {BATCH}-delivery batches in opposite orders: 0 deadlocks,"
        f" rows {rows}, {elapsed:.1f} s"
    )
    assert rows == ROUNDS * BATCH
