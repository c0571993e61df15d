"""/admin in a real browser: headless Chromium (Debian's package) driven by Playwright.

Playwright's own browser downloads are not used (`playwright install` is never run): the browser
is /usr/bin/chromium, which .ci/run installs. Everything runs in the test's event loop, hookwise
on uvicorn beside it; waits are Playwright's auto-waiting expectations, never sleeps.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.http.sessions import COOKIE
from app.settings import Settings
from tests.admin_support import (
    TOKEN,
    Flaky,
    post_github,
    post_linear,
    settle,
    with_admin,
    working,
)
from tests.harness import Running, running_hookwise, serving

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Chromium on a loaded CI machine can take more than Playwright's default 5 s to paint a page.
expect.set_options(timeout=15_000)


# CI sets it (.ci/run): there a missing browser is a failure, never a skip.
REQUIRE = "HOOKWISE_REQUIRE_BROWSER"
INSTALL = "apt-get install chromium"


def need_the_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get(REQUIRE):
            pytest.fail(f"{CHROMIUM} is missing and {REQUIRE} is set: {INSTALL}")
        pytest.skip(f"no browser at {CHROMIUM}: {INSTALL} to run these tests")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need_the_browser()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
async def admin(settings: Settings, dsn: str) -> AsyncIterator[Running]:
    # Two attempts, no backoff: a failing handler becomes a dead letter within one settle().
    configured = with_admin(
        settings,
        HOOKWISE_MAX_ATTEMPTS=2,
        HOOKWISE_RETRY_BASE_SECONDS=0.0,
        HOOKWISE_POLL_INTERVAL=3600.0,
    )
    async with running_hookwise(configured, dsn) as running:
        yield running


async def log_in(page: Page, url: str, token: str = TOKEN) -> None:
    await page.goto(f"{url}/admin/deliveries")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Log in").click()


async def test_log_in_filter_open_replay_and_see_it_complete(admin: Running, page: Page) -> None:
    flaky = Flaky(failures=2)
    payload = {"zen": "Design for failure.", "hook_id": 42}
    await post_github(admin, "ping", payload, delivery="d-flaky")
    await post_github(admin, "push", {"ref": "refs/heads/main"}, delivery="d-push")
    await post_linear(admin, delivery="d-linear")
    async with working(admin, flaky.router()) as worker:
        await settle(worker)  # ping failed twice: a dead letter; the others had no handler

    await log_in(page, admin.url)
    await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    rows = page.locator("table.deliveries tbody tr")
    await expect(rows).to_have_count(3)

    await page.get_by_label("Source").select_option("github")
    await page.get_by_label("Status").select_option("failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"source=github&.*status=failed"))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("d-flaky")
    await expect(page.get_by_label("Status")).to_have_value("failed")

    await rows.first.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="ping")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("failed")
    failures = page.locator("table.attempts tbody tr")
    await expect(failures).to_have_count(2)
    await expect(failures.nth(1)).to_contain_text("RuntimeError: upstream said <no> on call 2")
    await expect(page.locator("pre.payload")).to_contain_text('"zen": "Design for failure."')

    await page.get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("status")).to_contain_text("Queued again")
    await expect(page.locator("#status")).to_have_text("pending")
    await expect(page.locator("#attempts")).to_have_text("0")

    async with working(admin, flaky.router()) as worker:
        await settle(worker)  # the third call succeeds
    await page.reload()
    await expect(page.locator("#status")).to_have_text("completed")
    await expect(page.locator("#attempts")).to_have_text("1")


async def test_without_the_setting_admin_is_404(hookwise: Running, page: Page) -> None:
    for path in ("/admin", "/admin/login", "/admin/deliveries"):
        response = await page.goto(f"{hookwise.url}{path}")
        assert response is not None and response.status == 404, path


async def test_a_wrong_token_is_refused_and_the_right_one_gets_a_strict_cookie(
    admin: Running, page: Page
) -> None:
    await log_in(page, admin.url, token="not-the-admin-token")
    await expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    assert COOKIE not in {c["name"] for c in await page.context.cookies()}
    await page.goto(f"{admin.url}/admin/installations")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin%2Finstallations$"))

    await page.get_by_label("Admin token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{admin.url}/admin/installations")
    [cookie] = [c for c in await page.context.cookies() if c["name"] == COOKIE]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/admin")
    assert not cookie[
        "secure"
    ]  # plain http here; https gets Secure (tests/integration/test_admin.py)
    assert TOKEN not in cookie["value"]

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await page.goto(f"{admin.url}/admin/deliveries")
    await expect(page).to_have_url(re.compile(r"/admin/login"))


def evil_site(target: str) -> Starlette:
    """Another site whose button posts to hookwise's replay, as a CSRF attack would."""
    form = (
        f'<form method="post" action="{target}"><input type="hidden" name="csrf" value="guess">'
        '<button type="submit">Win a prize</button></form>'
    )

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><title>prize</title>{form}")

    return Starlette(routes=[Route("/", home)])


async def test_a_post_without_the_csrf_token_is_refused(
    admin: Running, page: Page, db: asyncpg.Connection
) -> None:
    event_id = await post_github(admin, "ping", {"zen": "x"}, delivery="d-csrf")
    await db.execute("UPDATE integration_events SET status = 'failed', attempts = 2")
    await log_in(page, admin.url)
    await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    replay = f"{admin.url}/admin/deliveries/{event_id}/replay"

    # With the session cookie, but no CSRF token or a wrong one.
    for form in ({}, {"csrf": ""}, {"csrf": "guess"}):
        response = await page.context.request.post(replay, form=form)
        assert response.status == 403, form
        await response.dispose()

    # From another site (localhost is not 127.0.0.1 to a browser), the operator's own click.
    async with serving(evil_site(replay)) as evil:
        await page.goto(evil.replace("127.0.0.1", "localhost"))
        async with page.expect_navigation() as navigation:
            await page.get_by_role("button", name="Win a prize").click()
        response = await navigation.value
        assert response is not None and response.status == 403
        await expect(page.get_by_role("alert")).to_contain_text("Log in and retry")
    assert await db.fetchval("SELECT status FROM integration_events") == "failed"

    # The same request with the page's token goes through: the cookie was there all along.
    await page.goto(f"{admin.url}/admin/deliveries/{event_id}")
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    response = await page.context.request.post(replay, form={"csrf": csrf or ""})
    assert response.ok and response.url.endswith("?replayed=1")
    await response.dispose()
    assert await db.fetchval("SELECT status FROM integration_events") == "pending"
