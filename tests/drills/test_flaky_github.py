"""Drill: GitHub failing at random while hookwise reacts to pull requests.

The fake GitHub answers a seeded random quarter of the App's requests (repository API and token
requests; not GET /app, not the log storage) with a failure instead: 500/502/503, a secondary
rate limit (403 or 429 with Retry-After: 1), or no answer until the client times out; and some
requests are carried out first and only then fail (a 502, or the answer lost): GitHub did the
work and hookwise cannot know it. The real worker handles the deliveries of 8 pull requests
(opened, then a failing check) with short timeouts and retries. Once the queue is empty, each
pull request has exactly one review, one summary comment, one check run of ours and one review
suggesting the fix: nothing lost, nothing twice.

The draws are seeded, but which request meets which draw depends on the order the worker's
concurrent handlers reach the fake, so each run sees a different mix of the same kinds (the
figures print it).

Waiting is the worker's own: each pass waits for a round of claims that found nothing due
(rate-limited events come back a second later), then looks at the queue in the database.

What this drill found: the GitHub client retried a POST whose answer was lost, and our check
run and the fix review had no way to find what an earlier attempt had posted (the fix review's
key even changed with each attempt): reviews, comments and check runs were posted twice.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from app.serving import default_router
from app.settings import Settings
from app.setup import PERMISSIONS
from app.worker import Worker
from tests.conftest import GITHUB_SECRET, INSTALLATION_ID, with_github
from tests.drills.conftest import Figures
from tests.drills.support import STEP_TIMEOUT
from tests.drills.world import Pulls, effects, expected, model_for
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import Failure, FakeGitHub
from tests.harness import running_hookwise

SEED = 5
PULLS = 8
RATE = 0.25
FLAKY = re.compile(r"/repos/.+|/app/installations/\d+/access_tokens")
# (status, headers, after): what a failed request gets; `after` carries it out first.
MENU: list[tuple[int, dict[str, str], bool]] = [
    (500, {}, False),
    (502, {}, False),
    (503, {}, False),
    (502, {}, True),
    (403, {"Retry-After": "1"}, False),
    (429, {"Retry-After": "1"}, False),
    (0, {}, False),
    (0, {}, True),
]
PENDING = """
SELECT (SELECT count(*) FROM integration_events WHERE status IN ('pending', 'processing'))
     + (SELECT count(*) FROM workflow_executions WHERE status IN ('pending', 'running'))
"""


@dataclass(kw_only=True, eq=False)
class FlakyGitHub(FakeGitHub):
    """The fake GitHub, failing a seeded random share of the requests FLAKY matches."""

    seed: int = SEED
    rate: float = RATE
    injected: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    flaky: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def take_failure(self, method: str, path: str) -> Failure | None:
        planned = super().take_failure(method, path)
        if planned is not None or not self.flaky or not FLAKY.fullmatch(path):
            return planned
        if self.rng.random() >= self.rate:
            return None
        status, headers, after = self.rng.choice(MENU)
        what = "no answer" if status == 0 else str(status)
        self.injected[f"{method} {what}{' after doing it' if after else ''}"] += 1
        return Failure(method, FLAKY, status, headers, None, 1, after)


def flaky_settings(settings: Settings, github: FakeGitHub, model: FakeAnthropic) -> Settings:
    return with_github(
        settings,
        github,
        HOOKWISE_GITHUB_TIMEOUT=0.3,
        HOOKWISE_GITHUB_RETRY_SECONDS=0.01,
        HOOKWISE_GITHUB_WRITE_INTERVAL=0.0,
        ANTHROPIC_API_KEY=model.api_key,
        ANTHROPIC_BASE_URL=model.url,
        HOOKWISE_ANTHROPIC_RETRY_SECONDS=0.01,
        HOOKWISE_REVIEW=True,
        HOOKWISE_FIX=True,
        # Rate-limited events are due again a second later: a poll finds them.
        HOOKWISE_POLL_INTERVAL=0.2,
        HOOKWISE_RETRY_BASE_SECONDS=0.05,
        HOOKWISE_RETRY_MAX_SECONDS=1.0,
        # Bad luck many times over must not dead-letter an event: this drill counts effects.
        HOOKWISE_MAX_ATTEMPTS=50,
    )


async def drained(worker: Worker, db: asyncpg.Connection) -> int:
    """Rounds of the worker waited for until no event or execution is pending or running."""
    rounds = 0
    async with asyncio.timeout(STEP_TIMEOUT):
        while await db.fetchval(PENDING):
            await worker.idle()
            rounds += 1
    return rounds


async def test_every_effect_lands_once_through_a_flaky_github(
    settings: Settings, dsn: str, db: asyncpg.Connection, figures: Figures
) -> None:
    async with (
        FlakyGitHub(webhook_secret=GITHUB_SECRET) as github,
        FakeAnthropic() as model,
    ):
        github.add_installation(INSTALLATION_ID, permissions=PERMISSIONS)
        pulls = Pulls(github, PULLS)
        model_for(model)
        async with running_hookwise(flaky_settings(settings, github, model), dsn) as hookwise:
            github.hook_url = f"{hookwise.url}/webhooks/github"
            worker = Worker(hookwise.ctx, default_router())
            task = asyncio.create_task(worker.run())
            try:
                github.flaky = True
                started = time.monotonic()
                for number in pulls.numbers:
                    delivery = await github.deliver("pull_request", pulls.opened(number))
                    assert delivery.status_code == 202
                rounds = await drained(worker, db)
                for number in pulls.numbers:
                    delivery = await github.deliver("check_run", pulls.failed_check(number))
                    assert delivery.status_code == 202
                rounds += await drained(worker, db)
                elapsed = time.monotonic() - started
            finally:
                worker.stop()
                await task

    landed = effects(github)
    events = await db.fetch(
        "SELECT event_type, status, attempts FROM integration_events ORDER BY received_at"
    )
    actions = await db.fetch(
        "SELECT kind, status, attempts, count(*) AS n FROM outbound_actions"
        " GROUP BY 1, 2, 3 ORDER BY 1, 3"
    )
    api = [r for r in github.requests if FLAKY.fullmatch(r.path)]
    figures(
        f"{len(api)} requests to the flaky API, {sum(github.injected.values())} failed (seed"
        f" {SEED}, rate {RATE}): {dict(sorted(github.injected.items()))}"
    )
    figures(
        f"{len(events)} events, attempts {sorted(Counter(r['attempts'] for r in events).items())}"
        f" (attempts: count), statuses {dict(Counter(r['status'] for r in events))};"
        f" {elapsed:.1f} s, {rounds} idle rounds waited; model calls {len(model.calls)}"
    )
    figures(f"outbound_actions (kind, status, attempts, count): {[tuple(r) for r in actions]}")
    kinds = Counter(kind for kind, _ in landed.elements())
    figures(
        f"on the fake GitHub: {dict(kinds)} for {PULLS} pull requests; duplicates"
        f" {sum(n - 1 for n in landed.values() if n > 1)}, missing"
        f" {sum((expected(pulls, checks=True) - landed).values())}"
    )
    assert sum(github.injected.values()) > 0
    assert {r["status"] for r in events} == {"completed"}
    assert {r["status"] for r in actions} == {"sent"}
    assert landed == expected(pulls, checks=True)
