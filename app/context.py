"""The one object passed to the web app, the worker and handlers: no module globals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import asyncpg
import httpx

from app import credentials
from app.clients import guard
from app.clients.anthropic import Model
from app.clients.github import GitHubApp
from app.clients.github_port import HttpPorts, Ports
from app.clients.linear import LinearClient
from app.crypto import CryptoError
from app.handlers.github_payload import repository_from_payload
from app.metrics import Metrics
from app.repo_config import Configs
from app.settings import Settings
from app.store import declared, executions, integrations, repositories
from app.store.leases import RequestLeases
from app.store.pool import connection, create_pool
from app.workflows import builtins, sync

log = logging.getLogger(__name__)

MOVE_WAIT = 5.0  # seconds for a pool connection to store a repository's new name
# The GitHub client's bookkeeping (request leases, moved repositories): a pool of its own.
GITHUB_POOL = 2
# Seconds a request lease outlives a process that died holding it (a live one renews it).
LEASE_TTL = 10.0

# hookwise's own reactions (app/reactions/builtin.py runs them), by name.
BUILTIN_WORKFLOWS = {
    "hookwise.review": "AI review of a pull request's head commit",
    "hookwise.analyse_failure": "Analyse a failing check and propose a fix",
    "hookwise.check_run_action": "Apply fix / Re-analyse pressed on our check run",
    "hookwise.linear_sync": "Tell Linear about a pull request's link, merge or close",
    "hookwise.workflows_sync": "Read the workflows declared in .github/hookwise.yml",
    "hookwise.workflows_check": "Check the .github/hookwise.yml a branch or pull request proposes",
}


@dataclass(frozen=True)
class Context:
    settings: Settings
    # Kept for connections outside the pool: the worker's LISTEN connection.
    dsn: str = field(repr=False)
    pool: asyncpg.Pool
    # integrations.id of each enabled source, resolved once at start.
    integration_ids: Mapping[str, int]
    # None when no GitHub App is configured (GITHUB_APP_ID and a private key).
    github: GitHubApp | None = None
    # None when no ANTHROPIC_API_KEY is set: the AI features are off.
    model: Model | None = None
    # None when no Linear API key is set or stored: nothing is sent back to Linear.
    linear: LinearClient | None = None
    configs: Configs = field(default_factory=Configs, repr=False)
    # This process's counters; the clients above count into the same object.
    metrics: Metrics = field(default_factory=Metrics, repr=False)
    # The GitHub operations reactions use (app/clients/github_port.py); None: over `github`.
    # Tests hand in an in-memory GitHub (tests/ports/github_memory.py).
    ports: Ports | None = field(default=None, repr=False)

    def github_ports(self) -> Ports | None:
        """Where reactions get a repository's port; None when there is no GitHub App."""
        if self.ports is not None:
            return self.ports
        return HttpPorts(self.github) if self.github is not None else None


@asynccontextmanager
async def open_context(
    settings: Settings,
    dsn: str,
    *,
    on_connect: Callable[[asyncpg.Connection], None] | None = None,
) -> AsyncIterator[Context]:
    """Open the pool (each of its connections handed to `on_connect` as it opens), the HTTP
    clients and resolve integrations; close everything on exit."""
    async with AsyncExitStack() as stack:
        metrics = Metrics()
        pool = await create_pool(
            dsn,
            size=settings.database.pool_size,
            on_connect=on_connect,
            idle_seconds=settings.database.pool_idle_seconds,
        )
        stack.push_async_callback(pool.close)
        async with connection(pool) as conn:
            ids = await integrations.ensure(conn, settings.webhooks.enabled_sources)
            await executions.ensure_workflows(conn, BUILTIN_WORKFLOWS)
            await declared.store_builtins(
                conn,
                sync.declarations(builtins.PARSED, file=builtins.FILE),
                builtins.stored_config(),
            )
        github = None
        if settings.github.app_configured:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.github.timeout, event_hooks=guard.hooks())
            )
            github = GitHubApp(settings.github, http, metrics=metrics)
            # Its own connections: callers of GitHub often hold one of the main pool. Its writes
            # (leases, a moved repository's name) wait for no WAL flush: each is said again.
            github_pool = await create_pool(
                dsn, size=GITHUB_POOL, min_size=0, server_settings={"synchronous_commit": "off"}
            )
            stack.push_async_callback(github_pool.close)
            leases = RequestLeases(
                github_pool, ttl=LEASE_TTL, write_interval=settings.github.write_interval
            )
            stack.push_async_callback(leases.close)  # before its pool closes
            github.leases = leases
            github.on_moved = partial(_store_move, github_pool)
            await _introduce(github, stack)
        linear = await _linear(settings, pool, stack)
        model = None
        if settings.model.api_key is not None:
            model = Model(settings.model, metrics=metrics)
            stack.push_async_callback(model.close)
        yield Context(
            settings=settings,
            dsn=dsn,
            pool=pool,
            integration_ids=ids,
            github=github,
            model=model,
            linear=linear,
            metrics=metrics,
        )


async def _linear(
    settings: Settings, pool: asyncpg.Pool, stack: AsyncExitStack
) -> LinearClient | None:
    async with connection(pool) as conn:
        try:
            api_key = await credentials.linear_api_key(
                conn, settings.linear.api_key, credentials.key_ring(settings.database)
            )
        except CryptoError as exc:
            # Not fatal: webhooks are still stored and handled; Linear is just not told.
            log.error("Linear is off: %s", exc)
            return None
    if api_key is None:
        return None
    http = await stack.enter_async_context(
        httpx.AsyncClient(timeout=30.0, event_hooks=guard.hooks())
    )
    return LinearClient(http, url=settings.linear.api_url, api_key=api_key)


async def _store_move(pool: asyncpg.Pool, github_id: int, answer: Mapping[str, Any]) -> None:
    """A repository GitHub redirected us for: store it as GitHub's answer about it (its
    repository object) gives it now, in a transaction of its own on the GitHub client's pool.
    Never waits long: the caller is in the middle of its GitHub calls (the next redirect or
    `repository` webhook says it again)."""
    try:
        # Shaped as a payload's repository object, which the webhook's is (owner, full_name,
        # html_url, updated_at, ...); no installation: what the row says of it stays.
        repository = repository_from_payload({"repository": {**answer, "id": github_id}})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("repository %d moved; GitHub's answer unreadable (%s)", github_id, exc)
        return
    full_name = repository.full_name
    try:
        async with pool.acquire(timeout=MOVE_WAIT) as conn:
            # The pool's proxy forwards every call to its Connection (app/store/pool.py).
            stored = await repositories.moved(cast(asyncpg.Connection, conn), repository)
    except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
        log.warning("repository %d is now %s; not stored (%s)", github_id, full_name, exc)
        return
    if stored:
        log.info(
            "repository %d is now %s", github_id, full_name, extra={"action": "repository_moved"}
        )


async def _introduce(github: GitHubApp, stack: AsyncExitStack) -> None:
    """GET /app now, and if it fails (a rate limit, GitHub down) in the background until it
    answers: not fatal, webhooks are stored meanwhile, and events that may be our own wait for
    it (app/workflows/builtins.py)."""
    wait = await github.introduce()
    if wait is None:
        return
    task = asyncio.create_task(github.keep_introducing(wait), name="github-identity")
    stack.push_async_callback(_cancelled, task)


async def _cancelled(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
