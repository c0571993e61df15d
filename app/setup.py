"""hookwise setup: GitHub's App manifest flow, from a local page to a filled-in .env.

A local page posts the App's manifest to GitHub; GitHub creates the App and sends the browser
back to our callback with a one-time code, which we exchange for the App's id, private key,
webhook secret and client credentials.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.clients.github import app_jwt
from app.clients.urls import part
from app.http.server import make_server
from app.settings import GitHubSettings, Settings
from app.signals import stop_on_signals

log = logging.getLogger("hookwise")

PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
# installation and installation_repositories reach every App without being asked for;
# repository (renamed, transferred, archived, deleted) must be, with the metadata permission.
# push: a change of .github/hookwise.yml on the default branch reads its workflows again.
EVENTS = [
    "check_run",
    "check_suite",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "push",
    "repository",
]


class SetupError(Exception):
    """The manifest flow did not complete."""


def manifest(*, name: str, public_url: str, redirect_url: str) -> dict[str, Any]:
    return {
        "name": name,
        "url": public_url,
        "hook_attributes": {"url": f"{public_url.rstrip('/')}/webhooks/github", "active": True},
        "redirect_url": redirect_url,
        "public": False,
        "default_permissions": PERMISSIONS,
        "default_events": EVENTS,
    }


def env_values(app: Mapping[str, Any]) -> dict[str, str]:
    """What the conversion answer gives us, under the names hookwise reads; a missing or null
    value is left out, never written as "None"."""
    names = {
        "GITHUB_APP_ID": "id",
        "GITHUB_CLIENT_ID": "client_id",
        "GITHUB_CLIENT_SECRET": "client_secret",
        "GITHUB_WEBHOOK_SECRET": "webhook_secret",
        "GITHUB_PRIVATE_KEY": "pem",
    }
    return {env: str(app[key]) for env, key in names.items() if app.get(key) not in (None, "")}


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Set these keys in a .env file (mode 0600), keeping every other line as it was."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in values]
    kept += [f"{key}={_quoted(value)}" for key, value in values.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(kept) + "\n")
    path.chmod(0o600)


@dataclass
class Flow:
    settings: GitHubSettings
    env_file: Path
    manifest: dict[str, Any]
    form_action: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    done: asyncio.Event = field(default_factory=asyncio.Event)
    install_url: str | None = None


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


async def start_page(request: Request, *, flow: Flow) -> HTMLResponse:
    action = html.escape(f"{flow.form_action}?state={flow.state}")
    value = html.escape(json.dumps(flow.manifest))
    return _page(
        "Create the hookwise GitHub App",
        f"<p>GitHub will create the App and send you back here.</p>"
        f"<form id='manifest' method='post' action='{action}'>"
        f"<input type='hidden' name='manifest' value='{value}'>"
        f"<button type='submit'>Create the GitHub App</button></form>",
    )


async def callback(request: Request, *, flow: Flow) -> HTMLResponse:
    code = request.query_params.get("code", "")
    state = request.query_params.get("state", "")
    if not code or not secrets.compare_digest(state, flow.state):
        return _page("That link is not from this setup", "<p>Start again from the first page.</p>")
    try:
        app = await exchange(flow.settings, code)
    except SetupError as exc:
        log.error("%s", exc)
        return _page("GitHub did not hand over the App", f"<p>{html.escape(str(exc))}</p>")
    if not app.get("webhook_secret"):
        try:
            app["webhook_secret"] = await set_webhook_secret(flow.settings, app)
        except SetupError as exc:
            # The private key is handed over only once: keep what GitHub gave.
            write_env(flow.env_file, env_values(app))
            log.error("%s", exc)
            return _page("The App has no webhook secret", f"<p>{html.escape(str(exc))}</p>")
    write_env(flow.env_file, env_values(app))
    flow.install_url = f"{app['html_url']}/installations/new"
    flow.done.set()
    link = html.escape(flow.install_url)
    return _page(
        f"Created {app.get('name', 'the App')}",
        f"<p>Its credentials are in {html.escape(str(flow.env_file))}.</p>"
        f"<p>Now <a href='{link}'>install it</a> on your organisation.</p>",
    )


async def exchange(settings: GitHubSettings, code: str) -> dict[str, Any]:
    """POST /app-manifests/{code}/conversions: the one-time code for the App's credentials."""
    url = f"{settings.api_url}/app-manifests/{part(code)}/conversions"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "hookwise"}
    try:
        async with httpx.AsyncClient(timeout=settings.timeout) as client:
            response = await client.post(url, headers=headers)
    except httpx.HTTPError as exc:
        raise SetupError(f"cannot reach {settings.api_url}: {exc}") from None
    if response.status_code != 201:
        raise SetupError(f"GitHub answered {response.status_code} to the code exchange")
    return dict(response.json())


async def set_webhook_secret(settings: GitHubSettings, app: Mapping[str, Any]) -> str:
    """Give the new App's webhook a secret of our making; returns it.

    GitHub's manifest conversion may answer `"webhook_secret": null` (its OpenAPI description
    allows it): the webhook would then send unsigned deliveries, which hookwise refuses. So a
    secret is made here and set with PATCH /app/hook/config, as the App (JWT). Raises
    SetupError, saying what to do by hand, when GitHub does not take it.
    """
    secret = secrets.token_hex(32)
    url = f"{settings.api_url}/app/hook/config"
    headers = {
        "Accept": "application/vnd.github+json",
        "User-Agent": "hookwise",
        "Authorization": f"Bearer {app_jwt(str(app['pem']), str(app['id']), now=time.time())}",
    }
    manual = (
        "GitHub created the App without a webhook secret. Set one in the App's settings"
        f" ({app.get('html_url', 'on GitHub')}) and put it in GITHUB_WEBHOOK_SECRET"
    )
    try:
        async with httpx.AsyncClient(timeout=settings.timeout) as client:
            response = await client.patch(url, headers=headers, json={"secret": secret})
    except httpx.HTTPError as exc:
        raise SetupError(f"{manual}: cannot reach {settings.api_url} ({exc})") from None
    if response.status_code != 200:
        raise SetupError(f"{manual}: GitHub answered {response.status_code} to setting one")
    return secret


async def run_setup(
    settings: Settings, *, env_file: Path, public_url: str, org: str | None, name: str
) -> str:
    """Serve the local pages until the App exists; returns its installation URL."""
    local = f"http://{settings.web.host}:{settings.web.port}"
    web = settings.github.web_url
    flow = Flow(
        settings=settings.github,
        env_file=env_file,
        manifest=manifest(name=name, public_url=public_url, redirect_url=f"{local}/callback"),
        form_action=f"{web}/organizations/{part(org)}/settings/apps/new"
        if org
        else f"{web}/settings/apps/new",
    )
    app = Starlette(
        routes=[
            Route("/", partial(start_page, flow=flow)),
            Route("/callback", partial(callback, flow=flow)),
        ]
    )
    server = make_server(app, host=settings.web.host, port=settings.web.port)
    # Listening before we say so: whoever follows the printed link finds the page.
    sock = socket.create_server((settings.web.host, settings.web.port))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    log.info(
        "open %s/ in a browser to create the GitHub App",
        local,
        extra={"action": "setup_page", "url": f"{local}/"},
    )
    with stop_on_signals(server.stop):
        done = asyncio.create_task(flow.done.wait())
        await asyncio.wait({serving, done}, return_when=asyncio.FIRST_COMPLETED)
        server.stop()
        await serving
        done.cancel()
    sock.close()
    if flow.install_url is None:
        raise SetupError("setup stopped before GitHub created the App")
    return flow.install_url
