"""GET /metrics: the Prometheus text format, scraped after real deliveries, attempts and calls."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from pydantic import ValidationError

from app.clients.anthropic import Model, Tool
from app.clients.github import GitHubApp
from app.context import open_context
from app.http.metrics import metrics_app
from app.metrics import Counter, Gauge, Histogram, Metrics
from app.router import HandlerContext, Router
from app.serving import default_router
from app.settings import Settings
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.harness import Running, running_hookwise, serving
from tests.integration.test_batch_steps import opened
from tests.integration.test_worker import fast, pr_payload, router_with, running_worker, store
from tests.signing import github_headers

Sample = tuple[str, frozenset[tuple[str, str]]]

LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text)


def parse(text: str) -> tuple[dict[Sample, float], dict[str, str]]:
    """Samples by (name, labels), and each family's TYPE; fails on any line out of format."""
    samples: dict[Sample, float] = {}
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = LINE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = LABEL.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == (labels or ""), line
        key = (name, frozenset((k, unescape(v)) for k, v in pairs))
        assert key not in samples, f"sample twice: {line!r}"
        samples[key] = float(value)
    return samples, types


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> tuple[dict[Sample, float], dict[str, str]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


def test_the_exposition_format() -> None:
    deliveries = Counter("x_total", "Help.", ("source", "event"))
    deliveries.inc(source="github", event='say "hi"\\\n')
    deliveries.inc(2, source="github", event="push")
    depth = Gauge("depth", "Depth.")
    depth.set(1.5)
    took = Histogram("took_seconds", "Took.", ("event",), bounds=(0.1, 1.0))
    took.observe(0.05, event="push")
    took.observe(0.5, event="push")
    took.observe(5, event="push")
    metrics = Metrics()
    text = metrics.render([deliveries, depth, took])
    samples, types = parse(text)
    assert types["x_total"] == "counter" and types["took_seconds"] == "histogram"
    assert 'x_total{source="github",event="say \\"hi\\"\\\\\\n"} 1' in text.splitlines()
    assert value(samples, "x_total", source="github", event='say "hi"\\\n') == 1
    assert value(samples, "x_total", source="github", event="push") == 2
    assert value(samples, "depth") == 1.5
    buckets = [
        value(samples, "took_seconds_bucket", event="push", le=le) for le in ("0.1", "1", "+Inf")
    ]
    assert buckets == [1, 2, 3]
    assert value(samples, "took_seconds_sum", event="push") == 5.55
    assert value(samples, "took_seconds_count", event="push") == 3


def test_a_misspelt_label_is_refused() -> None:
    counter = Counter("x_total", "Help.", ("source",))
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(sorce="github")
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1, source="github")


async def test_deliveries_by_outcome_and_the_queue_at_scrape_time(hookwise: Running) -> None:
    pr = pr_payload(1)
    for _ in range(2):
        headers = github_headers(pr, "pull_request", delivery="m-1")
        await hookwise.client.post("/webhooks/github", content=pr, headers=headers)
    push = json.dumps({"ref": "refs/heads/main", "installation": {"id": 7}}).encode()
    await hookwise.client.post(
        "/webhooks/github", content=push, headers=github_headers(push, "push")
    )
    forged = github_headers(push, "an-event-anyone-can-invent") | {
        "X-Hub-Signature-256": "sha256=" + "0" * 64
    }
    assert (
        await hookwise.client.post("/webhooks/github", content=push, headers=forged)
    ).status_code == 401
    assert (await hookwise.client.post("/webhooks/gitlab", content=b"{}")).status_code == 404

    samples, types = await scrape(hookwise.client)
    name = "hookwise_deliveries_received_total"
    assert types[name] == "counter"
    received = {
        dict(labels)["outcome"] + " " + dict(labels)["source"] + " " + dict(labels)["event"]: n
        for (sample, labels), n in samples.items()
        if sample == name
    }
    assert received == {
        "stored github pull_request": 1,
        "duplicate github pull_request": 1,
        "stored github push": 1,
        "401 github unverified": 1,
        "404 unknown unverified": 1,
    }
    assert value(samples, "hookwise_database_up") == 1
    assert value(samples, "hookwise_queue_events", status="pending") == 2
    assert value(samples, "hookwise_queue_events", status="failed") == 0
    assert value(samples, "hookwise_queue_oldest_pending_seconds") > 0


async def test_worker_attempts_retries_and_dead_letters(settings, dsn) -> None:
    async def flaky(ctx: HandlerContext) -> None:
        if ctx.payload["number"] == 2 or ctx.event.attempts < 2:
            raise RuntimeError("upstream hiccup")

    router: Router = router_with(flaky)
    async with running_worker(fast(settings, HOOKWISE_MAX_ATTEMPTS=3), dsn, router) as (
        ctx,
        worker,
    ):
        await store(ctx, pr_payload(1))
        await store(ctx, pr_payload(2))
        await store(ctx, b'{"zen": "Half measures are as bad as nothing at all."}', "ping")
        # Once all three are stored: everything committed before idle() is handled when it returns.
        await asyncio.wait_for(worker.idle(wake=True), 20)
        async with (
            serving(metrics_app(ctx)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            samples, types = await scrape(client)
            assert (await client.get("/healthz")).status_code == 200

    pr = {"source": "github", "event": "pull_request"}
    # Number 1: fails once, then completes. Number 2: fails three times, then is dead.
    assert value(samples, "hookwise_event_retries_total", **pr) == 1 + 2
    assert value(samples, "hookwise_dead_letters_total", **pr) == 1
    processed = "hookwise_events_processed_total"
    assert value(samples, processed, **pr, outcome="completed") == 1
    assert value(samples, processed, **pr, outcome="retry") == 3
    assert value(samples, processed, **pr, outcome="dead_letter") == 1
    assert value(samples, processed, source="github", event="ping", outcome="ignored") == 1
    assert types["hookwise_handler_duration_seconds"] == "histogram"
    # Every attempt that ran a handler, and only those: the ignored ping ran none.
    assert value(samples, "hookwise_handler_duration_seconds_count", **pr) == 5
    assert value(samples, "hookwise_handler_duration_seconds_bucket", **pr, le="+Inf") == 5
    assert (
        value(samples, "hookwise_handler_duration_seconds_count", source="github", event="ping")
        == 0
    )
    assert value(samples, "hookwise_queue_events", status="failed") == 1
    assert value(samples, "hookwise_queue_events", status="completed") == 1
    assert value(samples, "hookwise_queue_events", status="ignored") == 1


async def test_a_batch_prelude_that_failed_shows_in_metrics(settings, dsn) -> None:
    # A repository URL longer than its column holds: the batch's prelude cannot store it, in
    # the batch's first try nor under its savepoint in the second; the other events go on.
    refused = json.loads(opened(2))
    refused["repository"].update(
        id=602, full_name="octo/long", html_url="https://github.com/octo/" + "l" * 500
    )
    bodies = [opened(1), json.dumps(refused).encode(), opened(3)]
    configured = fast(settings, HOOKWISE_WORKER_BATCH=8, HOOKWISE_MAX_ATTEMPTS=1)
    async with open_context(configured, dsn) as ctx:
        for body in bodies:
            await store(ctx, body)
    worker = running_worker(configured, dsn, default_router(), concurrency=1)
    async with (
        worker as (ctx, _),
        serving(metrics_app(ctx)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        samples, types = await scrape(client)
    assert types["hookwise_batch_prelude_failures_total"] == "counter"
    assert value(samples, "hookwise_batch_prelude_failures_total") == 1
    pr = {"source": "github", "event": "pull_request"}
    processed = "hookwise_events_processed_total"
    assert value(samples, processed, **pr, outcome="completed") == 2
    assert value(samples, processed, **pr, outcome="dead_letter") == 1


async def test_github_calls_by_status_and_the_rate_limit_left(
    settings, fake_github: FakeGitHub
) -> None:
    metrics = Metrics()
    async with httpx.AsyncClient(timeout=2.0) as http:
        github = GitHubApp(with_github(settings, fake_github).github, http, metrics=metrics)
        fake_github.fail("GET", "/app", status=502)
        await github.load_identity()
        api = await github.installation_api(INSTALLATION_ID)
        app_left = fake_github.rate_json()["remaining"]
        await api.getitem("/installation/repositories")
        installation_left = fake_github.rate_json()["remaining"]
    samples, _ = parse(metrics.render())
    # GET /app (502, then 200), POST access_tokens (201), GET repositories (200).
    assert value(samples, "hookwise_github_requests_total", status="502") == 1
    assert value(samples, "hookwise_github_requests_total", status="200") == 2
    assert value(samples, "hookwise_github_requests_total", status="201") == 1
    remaining = "hookwise_github_rate_limit_remaining"
    assert value(samples, remaining, installation="app", resource="core") == app_left
    assert (
        value(samples, remaining, installation=str(INSTALLATION_ID), resource="core")
        == installation_left
    )
    assert installation_left < app_left


async def test_model_calls_by_status_and_tokens_used(settings) -> None:
    tool = Tool("answer", "Answer.", {"type": "object", "required": ["ok"]})
    async with FakeAnthropic() as fake:
        fake.fail(500)
        fake.reply_tool("answer", {"ok": True}, input_tokens=1200, output_tokens=300)
        configured = settings.with_env(
            ANTHROPIC_API_KEY=fake.api_key,
            ANTHROPIC_BASE_URL=fake.url,
            HOOKWISE_ANTHROPIC_RETRY_SECONDS=0.01,
        )
        metrics = Metrics()
        model = Model(configured.model, metrics=metrics)
        try:
            answer = await model.ask(
                model="claude-test", max_tokens=256, system="s", prompt="p", tool=tool
            )
        finally:
            await model.close()
    samples, _ = parse(metrics.render())
    assert value(samples, "hookwise_model_requests_total", status="500") == 1
    assert value(samples, "hookwise_model_requests_total", status="200") == 1
    tokens = "hookwise_model_tokens_total"
    assert value(samples, tokens, model=answer.model, direction="input") == 1200
    assert value(samples, tokens, model=answer.model, direction="output") == 300


METRICS_TOKEN = "scrape-" + "0123456789abcdef" * 2


def with_token(settings: Settings, token: str = METRICS_TOKEN) -> Settings:
    return settings.with_env(HOOKWISE_METRICS_TOKEN=token)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-of-some-length", f"Basic {METRICS_TOKEN}", METRICS_TOKEN],
    ids=["none", "wrong", "basic", "no scheme"],
)
async def test_with_a_metrics_token_a_scrape_without_it_is_refused(
    settings: Settings, dsn: str, authorization: str | None
) -> None:
    async with running_hookwise(with_token(settings), dsn) as running:
        headers = {"Authorization": authorization} if authorization else {}
        refused = await running.client.get("/metrics", headers=headers)
        # The worker's own metrics server answers alike.
        async with (
            serving(metrics_app(running.ctx)) as url,
            httpx.AsyncClient(base_url=url) as worker,
        ):
            refused_by_worker = await worker.get("/metrics", headers=headers)
    for response in (refused, refused_by_worker):
        assert response.status_code == 401
        assert response.json() == {"error": "a bearer token is required"}
        assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert METRICS_TOKEN not in response.text


async def test_with_a_metrics_token_a_scrape_with_it_gets_the_figures(
    settings: Settings, dsn: str
) -> None:
    async with running_hookwise(with_token(settings), dsn) as running:
        running.client.headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
        samples, _ = await scrape(running.client)
    assert value(samples, "hookwise_database_up") == 1


def test_a_short_metrics_token_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        with_token(settings, "hunter2")
    assert with_token(settings, "").admin.metrics_token is None
