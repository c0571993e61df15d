"""One GitHub request at a time per installation, and writes a second apart, across every process
(issue 16, item 16): two hookwise processes share nothing but the database, and GitHub never sees
two requests of one installation at once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from app.clients.github import GitHubApp
from app.clients.github_port import port
from app.context import open_context
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub, Recorded

REPO = "octo-org/widgets"
OTHER = 7654321
WRITE_INTERVAL = 0.3


@asynccontextmanager
async def process(settings, dsn: str, fake: FakeGitHub) -> AsyncIterator[GitHubApp]:
    """hookwise's GitHub App client as one process has it (its own context, pools, HTTP)."""
    configured = with_github(settings, fake, HOOKWISE_GITHUB_WRITE_INTERVAL=WRITE_INTERVAL)
    async with open_context(configured, dsn) as ctx:
        assert ctx.github is not None
        yield ctx.github


def overlapping(requests: list[Recorded]) -> list[tuple[str, str]]:
    ordered = sorted(requests, key=lambda r: r.at)
    return [
        (one.path, two.path) for one, two in itertools.pairwise(ordered) if two.at < one.answered_at
    ]


def of_installation(fake: FakeGitHub) -> list[Recorded]:
    return [r for r in fake.requests if r.path.startswith(f"/repos/{REPO}")]


@pytest.fixture
def widgets(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO, installation_id=INSTALLATION_ID, files={"a.py": "1\n"})
    fake_github.latency = 0.02
    return fake_github


async def test_two_processes_send_one_request_at_a_time(settings, dsn, widgets) -> None:
    async with process(settings, dsn, widgets) as one, process(settings, dsn, widgets) as two:
        apis = [
            await one.installation_api(INSTALLATION_ID),
            await two.installation_api(INSTALLATION_ID),
        ]
        reads = [port(api, REPO).tip("main") for api in apis for _ in range(6)]
        await asyncio.gather(*reads)
    sent = of_installation(widgets)
    assert len(sent) == 12 and all(r.status == 200 for r in sent)
    assert overlapping(sent) == []


async def test_two_processes_space_their_writes(settings, dsn, widgets) -> None:
    sha = widgets.tip(REPO)
    async with process(settings, dsn, widgets) as one, process(settings, dsn, widgets) as two:
        apis = [
            await one.installation_api(INSTALLATION_ID),
            await two.installation_api(INSTALLATION_ID),
        ]
        writes = [
            port(api, REPO).create_check_run({"name": f"c{n}", "head_sha": sha})
            for n, api in enumerate(apis * 2)
        ]
        await asyncio.gather(*writes)
    arrivals = sorted(r.at for r in of_installation(widgets) if r.method == "POST")
    assert len(arrivals) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= WRITE_INTERVAL * 0.95, gaps


async def test_installations_do_not_wait_for_each_other(settings, dsn, widgets) -> None:
    widgets.add_installation(OTHER, account_login="someone-else")
    widgets.add_repo("someone-else/tools", installation_id=OTHER)
    async with process(settings, dsn, widgets) as one:
        mine = await one.installation_api(INSTALLATION_ID)
        theirs = await one.installation_api(OTHER)
        await asyncio.gather(
            *(port(mine, REPO).tip("main") for _ in range(3)),
            *(port(theirs, "someone-else/tools").tip("main") for _ in range(3)),
        )
    both = sorted((r for r in widgets.requests if "/commits/" in r.path), key=lambda r: r.at)
    # Some request of one installation went out while the other's was being answered.
    assert overlapping(both)


async def test_a_lease_left_by_a_process_that_died_lapses(settings, dsn, db, widgets) -> None:
    # Taken by a process killed mid-request: nobody will release it.
    await db.execute(
        "INSERT INTO github_request_leases (installation_id, holder, leased_until)"
        " VALUES ($1, gen_random_uuid(), now() + interval '300 milliseconds')",
        INSTALLATION_ID,
    )
    async with process(settings, dsn, widgets) as one:
        api = await one.installation_api(INSTALLATION_ID)
        assert (await port(api, REPO).tip("main"))["sha"] == widgets.tip(REPO)
    row = await db.fetchrow(
        "SELECT holder, leased_until FROM github_request_leases WHERE installation_id = $1",
        INSTALLATION_ID,
    )
    assert tuple(row) == (None, None)
