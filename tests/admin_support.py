"""What the admin page tests share: a token, hookwise with it, stored deliveries, a flaky handler
that a real worker retries."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.router import HandlerContext, Router
from app.settings import Settings
from app.worker import Worker
from tests.harness import Running
from tests.signing import github_headers, linear_body, linear_headers

TOKEN = "admin-token-for-tests-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def with_admin(settings: Settings, **changes: Any) -> Settings:
    """`settings` with /admin on; `changes` by environment name (settings.with_env)."""
    return settings.with_env(**({"HOOKWISE_ADMIN_TOKEN": TOKEN} | changes))


async def post_github(
    hookwise: Running, event: str, payload: dict[str, Any], *, delivery: str
) -> str:
    """Deliver a signed webhook; the stored event's id."""
    body = json.dumps(payload).encode()
    headers = github_headers(body, event, delivery=delivery)
    response = await hookwise.client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def post_linear(hookwise: Running, *, delivery: str) -> str:
    body = linear_body()
    response = await hookwise.client.post(
        "/webhooks/linear", content=body, headers=linear_headers(body, delivery=delivery)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def log_in(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    return await client.post("/admin/login", data={"token": token, "next": "/admin/deliveries"})


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF field on the page"
    return match[1]


class Flaky:
    """A handler for `ping` that fails its first `failures` calls, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, event: HandlerContext) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"upstream said <no> on call {self.calls}")

    def router(self) -> Router:
        router = Router()
        router.add(self, "github", "ping")
        return router


@asynccontextmanager
async def working(hookwise: Running, router: Router) -> AsyncIterator[Worker]:
    """A real worker on hookwise's context until the block ends."""
    worker = Worker(hookwise.ctx, router)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task


async def settle(worker: Worker) -> None:
    await asyncio.wait_for(worker.idle(wake=True), 30)
