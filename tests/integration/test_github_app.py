"""The GitHub App client against the fake GitHub: tokens, identity, retries, rate limits."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import requires, version

import gidgethub.abc
import httpx
import pytest
from gidgethub import BadRequest, GitHubBroken
from packaging.requirements import Requirement
from packaging.version import Version

from app.clients.github import GitHubAPI, GitHubApp, RateLimited
from app.context import open_context
from app.router import FetchContext, HandlerContext, Router
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.integration.test_worker import running_worker, store

TOKEN_URL = "/app/installations/{id}/access_tokens"


def token_requests(fake: FakeGitHub) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("access_tokens"))


async def test_start_asks_who_we_are(settings, dsn, fake_github: FakeGitHub) -> None:
    async with open_context(with_github(settings, fake_github), dsn) as ctx:
        assert ctx.github is not None and ctx.github.identity is not None
        assert ctx.github.identity.slug == "hookwise-test"
        assert ctx.github.identity.bot_login == "hookwise-test[bot]"
    [asked] = [r for r in fake_github.requests if r.path == "/app"]
    assert asked.headers["authorization"].lower().startswith("bearer ")
    assert asked.headers["user-agent"] == "hookwise"


async def test_client_id_is_the_jwt_issuer_when_set(settings, dsn, fake_github) -> None:
    configured = with_github(settings, fake_github, GITHUB_CLIENT_ID=fake_github.client_id)
    async with open_context(configured, dsn) as ctx:
        assert ctx.github is not None and ctx.github.identity is not None


async def test_github_down_at_start_is_not_fatal(settings, dsn, fake_github) -> None:
    fake_github.fail("GET", "/app", status=503, times=3)
    async with open_context(with_github(settings, fake_github), dsn) as ctx:
        assert ctx.github is not None and ctx.github.identity is None


async def app_for(settings, fake: FakeGitHub) -> tuple[GitHubApp, httpx.AsyncClient]:
    http = httpx.AsyncClient(timeout=2.0)
    return GitHubApp(with_github(settings, fake).github, http), http


async def test_installation_token_is_cached_and_shared(settings, fake_github) -> None:
    github, http = await app_for(settings, fake_github)
    async with http:
        tokens = await asyncio.gather(
            *(github.installation_token(INSTALLATION_ID) for _ in range(10))
        )
        assert len(set(tokens)) == 1
        assert await github.installation_token(INSTALLATION_ID) == tokens[0]
        api = await github.installation_api(INSTALLATION_ID)
        await api.getitem("/installation/repositories")
    assert token_requests(fake_github) == 1
    [used] = [r for r in fake_github.requests if r.path == "/installation/repositories"]
    assert used.headers["authorization"] == f"token {tokens[0]}"


async def test_token_is_renewed_five_minutes_before_it_expires(settings) -> None:
    # Tokens living 4 minutes are inside the 5-minute margin from the start.
    async with FakeGitHub(token_ttl=240) as fake:
        fake.add_installation(INSTALLATION_ID)
        github, http = await app_for(settings, fake)
        async with http:
            first = await github.installation_token(INSTALLATION_ID)
            second = await github.installation_token(INSTALLATION_ID)
        assert first != second
        assert token_requests(fake) == 2


async def test_unknown_installation_is_a_permanent_error(settings, fake_github) -> None:
    github, http = await app_for(settings, fake_github)
    async with http:
        with pytest.raises(Exception, match="Not Found"):
            await github.installation_token(999)


async def test_5xx_is_retried_a_few_times(settings, fake_github) -> None:
    github, http = await app_for(settings, fake_github)
    async with http:
        fake_github.fail("GET", "/app", status=502, times=2)
        assert (await github.app_api().getitem("/app"))["slug"] == "hookwise-test"
        fake_github.fail("GET", "/app", status=500, times=3)
        with pytest.raises(GitHubBroken):
            await github.app_api().getitem("/app")
    assert sum(1 for r in fake_github.requests if r.path == "/app") == 6


async def test_a_new_tokens_401_is_asked_again_and_the_apps_own_is_not(
    settings, fake_github
) -> None:
    """GitHub may answer 401 to an installation token in its first seconds, before its
    replicas know it (@octokit/auth-app asks again for five seconds): asked again, it answers.
    The App's JWT has no such excuse: its 401 is raised at once."""
    github, http = await app_for(settings, fake_github)
    async with http:
        api = await github.installation_api(INSTALLATION_ID)
        fake_github.fail("GET", "/installation/repositories", status=401, times=2)
        await api.getitem("/installation/repositories")
        fake_github.fail("GET", "/app", status=401)
        with pytest.raises(BadRequest) as refused:
            await github.app_api().getitem("/app")
    assert refused.value.status_code == 401
    asked = [r.path for r in fake_github.requests if r.method == "GET"]
    assert asked.count("/installation/repositories") == 3
    assert asked.count("/app") == 1


async def test_timeouts_are_retried_then_raised(settings, fake_github) -> None:
    async with httpx.AsyncClient(timeout=0.2) as quick:
        github = GitHubApp(with_github(settings, fake_github).github, quick)
        fake_github.fail("GET", "/app", status=0, times=2)
        assert (await github.app_api().getitem("/app"))["id"] == fake_github.app_id
        fake_github.fail("GET", "/app", status=0, times=3)
        with pytest.raises(httpx.TimeoutException):
            await github.app_api().getitem("/app")


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "120"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "{reset}"},
    ],
    ids=["secondary", "primary"],
)
async def test_rate_limit_raises_with_the_time_to_retry(settings, fake_github, headers) -> None:
    reset = int((datetime.now(UTC) + timedelta(seconds=120)).timestamp())
    filled = {k: v.format(reset=reset) for k, v in headers.items()}
    github, http = await app_for(settings, fake_github)
    async with http:
        fake_github.fail("GET", "/app", status=403, headers=filled)
        with pytest.raises(RateLimited) as raised:
            await github.app_api().getitem("/app")
    wait = (raised.value.retry_at - datetime.now(UTC)).total_seconds()
    assert 100 < wait <= 121


async def test_rate_limited_event_is_rescheduled_without_counting_an_attempt(
    settings, dsn, db, fake_github
) -> None:
    # GitHub is asked by the event's fetcher, before its transaction (handlers may not).
    async def calls_github(ctx: FetchContext) -> None:
        assert ctx.app.github is not None
        api = await ctx.app.github.installation_api(INSTALLATION_ID)
        await api.getitem("/installation/repositories")

    async def records(ctx: HandlerContext) -> None:
        pass

    router = Router()
    router.fetcher("github", "pull_request")(calls_github)
    router.add(records, "github", "pull_request")
    fake_github.fail("GET", "/installation/repositories", status=429, headers={"Retry-After": "90"})
    configured = with_github(settings, fake_github, HOOKWISE_POLL_INTERVAL=3600.0)
    async with running_worker(configured, dsn, router) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, json.dumps({"action": "opened", "number": 1}).encode())
        await asyncio.wait_for(idle, 20)
    row = await db.fetchrow(
        "SELECT status, attempts, last_error, run_after - now() AS wait FROM integration_events"
    )
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert timedelta(seconds=60) < row["wait"] <= timedelta(seconds=90)


async def test_writes_are_one_at_a_time_a_second_apart(settings, fake_github) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        github = GitHubApp(
            with_github(settings, fake_github, HOOKWISE_GITHUB_WRITE_INTERVAL=1.0).github, http
        )
        api = github.app_api()
        reads = [api.getitem("/app") for _ in range(3)]
        writes = [api.post(TOKEN_URL, {"id": INSTALLATION_ID}, data=b"") for _ in range(2)]
        await asyncio.gather(*reads, *writes)
    posted = [r.at for r in fake_github.requests if r.method == "POST"]
    assert len(posted) == 2
    assert posted[1] - posted[0] >= 0.95


def test_gidgethub_has_the_hooks_hookwise_overrides() -> None:
    # app/clients/github.py overrides gidgethub's _get_app_jwt (the App's JWT on App calls) and
    # handle_rate_limit_error; gidgethub has them from 6.0. Were they gone, the overrides would
    # be dead code and App calls would go out without a JWT.
    for hook in ("_get_app_jwt", "handle_rate_limit_error"):
        assert hook in vars(gidgethub.abc.GitHubAPI), hook
        assert getattr(GitHubAPI, hook) is not getattr(gidgethub.abc.GitHubAPI, hook)
    [pin] = [r for r in requires("hookwise") or [] if Requirement(r).name == "gidgethub"]
    lowest = min(Version(s.version) for s in Requirement(pin).specifier if s.operator == ">=")
    assert lowest >= Version("6.0"), pin
    assert Version(version("gidgethub")) in Requirement(pin).specifier
