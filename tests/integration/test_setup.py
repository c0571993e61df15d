"""hookwise setup: the App manifest flow end to end, a browser's part played by httpx."""

from __future__ import annotations

import asyncio
import html
import os
import re
import stat
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from app.setup import env_values
from tests.fakes.github import FakeGitHub
from tests.harness import free_port, running_hookwise
from tests.processes import HOOKWISE, Logged, environment, hookwise


async def wait_for_line(stream: asyncio.StreamReader, wanted: Logged) -> str:
    async with asyncio.timeout(30):
        while line := (await stream.readline()).decode():
            if wanted.matches(line):
                return line
    raise AssertionError(f"hookwise setup ended before {wanted}")


@pytest.mark.parametrize("secret_given", [True, False], ids=["secret", "webhook_secret-null"])
async def test_setup_creates_the_app_and_writes_env(
    tmp_path: Path, fake_github: FakeGitHub, dsn: str, db, secret_given: bool
) -> None:
    # GitHub may convert the manifest with "webhook_secret": null: setup then makes a secret and
    # sets it on the App's webhook, and deliveries are signed with it all the same.
    fake_github.converts_with_secret = secret_given
    port = free_port()
    env_path = tmp_path / ".env"
    env_path.write_text("HOOKWISE_LOG_LEVEL=info\n")
    env = environment(
        GITHUB_API_URL=fake_github.url,
        GITHUB_URL=fake_github.url,
        HOST="127.0.0.1",
        PORT=str(port),
        HOOKWISE_ENV_FILE=str(env_path),
    )
    process = await asyncio.create_subprocess_exec(
        HOOKWISE,
        *("setup", "--org", "acme", "--public-url", "https://hooks.example.com"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        await wait_for_line(
            process.stderr, Logged.of("setup_page", url=f"http://127.0.0.1:{port}/")
        )
        async with httpx.AsyncClient(timeout=10) as browser:
            page = await browser.get(f"http://127.0.0.1:{port}/")
            action = html.unescape(re.search(r"action='([^']+)'", page.text)[1])
            manifest = html.unescape(re.search(r"name='manifest' value='([^']+)'", page.text)[1])
            assert action.startswith(f"{fake_github.url}/organizations/acme/settings/apps/new?")
            done = await browser.post(action, data={"manifest": manifest}, follow_redirects=True)
        assert done.status_code == 200
        assert "install it" in done.text
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[-1] == (
        f"install it: {fake_github.url}/apps/{fake_github.slug}/installations/new"
    )
    [sent] = fake_github.manifests
    assert sent["hook_attributes"]["url"] == "https://hooks.example.com/webhooks/github"
    assert sent["redirect_url"] == f"http://127.0.0.1:{port}/callback"

    assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600
    assert env_path.read_text().startswith("HOOKWISE_LOG_LEVEL=info\n")
    written = Settings.load(env_path).with_env(DATABASE_URL=dsn)
    assert written.github.app_id == str(fake_github.app_id)
    assert written.github.client_id == fake_github.client_id
    assert fake_github.webhook_secret
    assert written.webhooks.secrets_for("github") == (fake_github.webhook_secret.encode(),)
    set_secret = [r for r in fake_github.requests if r.path == "/app/hook/config"]
    assert len(set_secret) == (0 if secret_given else 1)

    # With what setup wrote, hookwise is the App: it knows itself and takes GitHub's webhooks.
    configured = written.with_env(GITHUB_API_URL=fake_github.url, HOOKWISE_GITHUB_TIMEOUT=2.0)
    async with running_hookwise(configured, dsn) as hookwise:
        assert hookwise.ctx.github is not None and hookwise.ctx.github.identity is not None
        fake_github.hook_url = f"{hookwise.url}/webhooks/github"
        ping = await fake_github.deliver("ping", {"zen": "Keep it logically awesome."})
    assert ping.status_code == 202
    assert await db.fetchval("SELECT event_type FROM integration_events") == "ping"


async def test_a_callback_with_a_foreign_state_is_refused(tmp_path: Path, fake_github) -> None:
    port = free_port()
    env = environment(
        GITHUB_API_URL=fake_github.url,
        GITHUB_URL=fake_github.url,
        PORT=str(port),
        HOOKWISE_ENV_FILE=str(tmp_path / ".env"),
    )
    process = await asyncio.create_subprocess_exec(
        HOOKWISE, "setup", env=env, stdout=-1, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        await wait_for_line(process.stderr, Logged.of("setup_page"))
        async with httpx.AsyncClient() as browser:
            forged = await browser.get(f"http://127.0.0.1:{port}/callback?code=abc&state=forged")
        assert "not from this setup" in forged.text
        assert not (tmp_path / ".env").exists()
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2


@pytest.mark.parametrize("url", ["hooks.example.com", "ftp://hooks.example.com", "https://"])
def test_a_public_url_github_would_refuse_is_refused_first(tmp_path: Path, url: str) -> None:
    env = environment(PORT=str(free_port()), HOOKWISE_ENV_FILE=str(tmp_path / ".env"))
    done = hookwise("setup", "--public-url", url, env=env, timeout=30)
    assert (done.returncode, done.stderr) == (
        2,
        "hookwise: --public-url takes the http(s):// URL GitHub reaches hookwise at,"
        f" not {url!r}\n",
    )
    assert not (tmp_path / ".env").exists()


def test_a_null_from_github_is_never_written_as_none() -> None:
    answer = {"id": 1, "client_id": "Iv1.x", "client_secret": "s", "webhook_secret": None}
    assert env_values(answer | {"pem": "KEY"}) == {
        "GITHUB_APP_ID": "1",
        "GITHUB_CLIENT_ID": "Iv1.x",
        "GITHUB_CLIENT_SECRET": "s",
        "GITHUB_PRIVATE_KEY": "KEY",
    }
