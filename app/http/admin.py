"""/admin: server-rendered pages for an operator, behind HOOKWISE_ADMIN_TOKEN.

Without the token none of these routes exists. With it, every page but the login wants the
signed session cookie (app/http/sessions.py), and every POST also that session's CSRF token.
Pages read through app/store/browse.py; the buttons replay a stored event
(app/store/events.py), ask GitHub to redeliver a delivery it failed to hand over
(the paging of app/redeliver.py), set a repository's settings override
(repositories.config_override, app/repo_config.py), start a declared workflow by hand and
cancel an execution that waits to run (app/store/executions.py). Jinja2 escapes everything
it renders.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import asyncpg
import httpx
import jinja2
import yaml
from gidgethub import GitHubException, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from app import redeliver
from app.clients.errors import RateLimited
from app.context import Context
from app.deliveries import MAX_DEPTH, nested_deeper_than
from app.http.body import read_body
from app.http.sessions import COOKIE, Sessions
from app.operate import (
    cancel_reason,
    cancelled_line,
    parse_time,
    replay_reason,
    replayed_line,
)
from app.repo_config import settings_of
from app.settings import SOURCES
from app.store import (
    attempts,
    bodies,
    browse,
    declared,
    events,
    executions,
    repositories,
    workflow_views,
)
from app.store.pool import connection
from app.store.statuses import EventStatus
from app.workflows import manual

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PAGE_SIZE = 50
FORM_LIMIT = 16 * 1024
# Past this a payload is shown cut (and not re-indented): 25 MB of JSON would stall the page.
PAYLOAD_LIMIT = 1024 * 1024
REDELIVER_SINCE = "24h"
# Sent with every admin response: no caching of payloads, no framing, no script at all.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Form = Mapping[str, str]


class BadInput(ValueError):
    """A filter value the page cannot use."""


@dataclass(frozen=True)
class Admin:
    ctx: Context
    sessions: Sessions
    templates: jinja2.Environment
    stylesheet: bytes

    def render(
        self, request: Request, name: str, *, status: int = 200, **values: Any
    ) -> HTMLResponse:
        session = getattr(request.state, "admin_session", None)
        csrf = self.sessions.csrf_token(session) if session is not None else None
        html = self.templates.get_template(f"admin/{name}").render(csrf=csrf, **values)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def not_found(self, request: Request, what: str) -> HTMLResponse:
        return self.render(request, "error.html", status=404, title="Not found", message=what)


Page = Callable[[Request, Admin], Awaitable[Response]]
Action = Callable[[Request, Admin, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def load_templates() -> jinja2.Environment:
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        # On for every file, whatever its name: payloads and headers are anyone's text.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    templates.filters["when"] = when
    # Compiled now, so a broken template stops the start rather than a page.
    for name in templates.list_templates():
        templates.get_template(name)
    return templates


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: one of these pages, never another site."""
    parts = urlsplit(target or "")
    on_admin = parts.path == "/admin" or parts.path.startswith("/admin/")
    if parts.scheme or parts.netloc or not on_admin or "\\" in (target or ""):
        return "/admin/deliveries"
    return target or "/admin/deliveries"


async def read_form(request: Request) -> dict[str, str]:
    # Parsed here: Starlette's form parser needs python-multipart, a dependency for two fields.
    body = await read_body(request, FORM_LIMIT)
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def page(handler: Page, admin: Admin) -> Endpoint:
    """A GET page: without a valid session, off to the login form and back here after."""

    async def endpoint(request: Request) -> Response:
        session = admin.sessions.session_id(request.cookies.get(COOKIE), now=time.time())
        if session is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect("/admin/login?" + urlencode({"next": here}))
        request.state.admin_session = session
        return await handler(request, admin)

    return endpoint


def action(handler: Action, admin: Admin) -> Endpoint:
    """A POST: refused (403) without a valid session and that session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        session = admin.sessions.session_id(request.cookies.get(COOKIE), now=time.time())
        form = await read_form(request)
        if session is None or not admin.sessions.csrf_matches(session, form.get("csrf", "")):
            log.warning(
                "admin %s refused from %s: no session or CSRF token",
                request.url.path,
                _client(request),
                extra={"action": "admin_forbidden"},
            )
            message = "This form has expired or did not come from this page. Log in and retry."
            return admin.render(request, "error.html", status=403, title="Refused", message=message)
        request.state.admin_session = session
        return await handler(request, admin, form)

    return endpoint


# ---------------------------------------------------------------------------------------------
# Login
# ---------------------------------------------------------------------------------------------


async def login_form(request: Request, *, admin: Admin) -> Response:
    target = safe_next(request.query_params.get("next"))
    return admin.render(request, "login.html", next=target, error=None)


async def login(request: Request, *, admin: Admin) -> Response:
    form = await read_form(request)
    target = safe_next(form.get("next"))
    if not admin.sessions.token_matches(form.get("token", "")):
        log.warning(
            "admin login refused from %s",
            _client(request),
            extra={"action": "admin_login_refused"},
        )
        error = "That is not the admin token."
        return admin.render(request, "login.html", status=401, next=target, error=error)
    log.info("admin login from %s", _client(request), extra={"action": "admin_login"})
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        admin.sessions.issue(now=time.time()),
        max_age=int(admin.sessions.lifetime),
        path="/admin",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request, admin: Admin, form: Form) -> Response:
    response = redirect("/admin/login")
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


async def home(request: Request) -> Response:
    return redirect("/admin/deliveries")


async def stylesheet(request: Request, *, admin: Admin) -> Response:
    return Response(
        admin.stylesheet, media_type="text/css", headers={"Cache-Control": "max-age=300"}
    )


# ---------------------------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------------------------

FILTERS = ("source", "event", "status", "since", "until")


def delivery_filter(query: Mapping[str, str], *, now: datetime) -> browse.DeliveryFilter:
    source = query.get("source") or None
    if source is not None and source not in SOURCES:
        raise BadInput(f"unknown source {source!r}")
    status = query.get("status") or None
    if status is not None and status not in tuple(EventStatus):
        raise BadInput(f"unknown status {status!r}")
    times = {}
    for name in ("since", "until"):
        text = (query.get(name) or "").strip()
        try:
            times[name] = parse_time(text, now=now) if text else None
        except ValueError as exc:
            raise BadInput(f"{name}: {exc}") from None
    event = (query.get("event") or "").strip() or None
    if event is not None and "\x00" in event:
        raise BadInput("event: no event type holds U+0000")
    return browse.DeliveryFilter(source, event, status, times["since"], times["until"])


# The last page whose offset PostgreSQL's bigint OFFSET still takes.
LAST_PAGE = (2**63 - 1) // PAGE_SIZE


def page_number(text: str | None) -> int:
    if not text:
        return 1
    # isascii: str.isdigit() also takes digits such as "²" that int() refuses.
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise BadInput(f"page must be a number from 1 on, not {text!r}")
    if int(text) > LAST_PAGE:
        raise BadInput(f"page must be a number from 1 to {LAST_PAGE}, not {text!r}")
    return int(text)


async def deliveries_page(request: Request, admin: Admin) -> Response:
    query = request.query_params
    filters = {name: query.get(name, "") for name in FILTERS}
    values: dict[str, Any] = {
        "filters": filters,
        "sources": SOURCES,
        "statuses": tuple(EventStatus),
        "rows": [],
        "error": None,
        "number": 1,
        "newer": None,
        "older": None,
    }
    try:
        selected = delivery_filter(query, now=datetime.now(UTC))
        number = page_number(query.get("page"))
    except BadInput as exc:
        return admin.render(request, "deliveries.html", status=400, **(values | {"error": exc}))
    async with connection(admin.ctx.pool) as conn:
        rows = await browse.deliveries(
            conn, selected, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
    kept = {name: value for name, value in filters.items() if value}

    def link(to: int) -> str:
        return "/admin/deliveries?" + urlencode(kept | ({"page": str(to)} if to > 1 else {}))

    values |= {
        "rows": rows[:PAGE_SIZE],
        "number": number,
        "newer": link(number - 1) if number > 1 else None,
        "older": link(number + 1) if len(rows) > PAGE_SIZE else None,
    }
    return admin.render(request, "deliveries.html", **values)


def pretty(body: bytes) -> tuple[str, bool]:
    """The body as indented JSON (as text when it is not JSON), and whether it was cut."""
    if len(body) > PAYLOAD_LIMIT:
        return body[:PAYLOAD_LIMIT].decode("utf-8", "replace"), True
    text = body.decode("utf-8", "replace")
    # Decoding and indenting recurse a level at a time: a body nested deeper than ingest takes
    # (stored by an earlier release) is shown as it came, not as a 500.
    if nested_deeper_than(body, MAX_DEPTH):
        return text, False
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), False
    except ValueError:
        return text, False


async def delivery_page(request: Request, admin: Admin) -> Response:
    event_id: uuid.UUID = request.path_params["event_id"]
    async with connection(admin.ctx.pool) as conn:
        event = await browse.delivery(conn, event_id)
        failures = await attempts.of_event(conn, event_id) if event is not None else []
    if event is None:
        return admin.not_found(request, f"No stored delivery has id {event_id}.")
    payload, cut = pretty(bodies.unpack(event.body_encoding, event.body))
    return admin.render(
        request,
        "delivery.html",
        event=event,
        headers=sorted((event.headers or {}).items()),
        payload=payload,
        cut=cut,
        failures=failures,
        replayed=request.query_params.get("replayed"),
    )


async def replay(request: Request, admin: Admin, form: Form) -> Response:
    event_id: uuid.UUID = request.path_params["event_id"]
    async with connection(admin.ctx.pool) as conn:
        replayed = await events.replay(conn, events.Selection(ids=[event_id]))
        stored = bool(replayed) or bool(await events.known(conn, [event_id]))
    if not stored:
        return admin.not_found(request, f"No stored delivery has id {event_id}.")
    log.info(
        "admin replay of %s: %s",
        event_id,
        f"was {replayed[0].status}" if replayed else "not replayed",
        extra={"action": "admin_replay", "event_id": str(event_id)},
    )
    # An event a worker holds is left alone by replay; the page says so.
    return redirect(f"/admin/deliveries/{event_id}?replayed={1 if replayed else 0}")


# ---------------------------------------------------------------------------------------------
# Installations and pull requests
# ---------------------------------------------------------------------------------------------


async def installations_page(request: Request, admin: Admin) -> Response:
    async with connection(admin.ctx.pool) as conn:
        found = await browse.installations(conn)
    return admin.render(request, "installations.html", installations=found)


async def pulls_page(request: Request, admin: Admin) -> Response:
    try:
        repository = uuid.UUID(request.query_params.get("repository") or "")
    except ValueError:
        repository = None
    async with connection(admin.ctx.pool) as conn:
        rows = await browse.pulls(conn, repository_id=repository, limit=PAGE_SIZE * 2)
    return admin.render(request, "pulls.html", rows=rows, repository=repository)


async def pull_page(request: Request, admin: Admin) -> Response:
    pull_id: uuid.UUID = request.path_params["pull_id"]
    async with connection(admin.ctx.pool) as conn:
        pull = await browse.pull(conn, pull_id)
        entries = await browse.timeline(conn, pull_id) if pull is not None else []
        target = await workflow_views.pull_target(conn, pull_id)
        runnable = []
        if target is not None:
            repository = {"id": target.github_id, "full_name": target.full_name}
            scopes = declared.scopes_of(repository)
            runnable = await workflow_views.manual_for(conn, scopes)
    if pull is None:
        return admin.not_found(request, f"No pull request has id {pull_id}.")
    return admin.render(
        request,
        "pull.html",
        pull=pull,
        entries=entries,
        runnable=runnable,
        error=request.query_params.get("error"),
    )


async def run_workflow(request: Request, admin: Admin, form: Form) -> Response:
    """The button on a pull request's page: a manual run of one of its declared workflows."""
    pull_id: uuid.UUID = request.path_params["pull_id"]
    name = form.get("workflow", "")
    async with connection(admin.ctx.pool) as conn:
        target = await workflow_views.pull_target(conn, pull_id)
        if target is None:
            return admin.not_found(request, f"No pull request has id {pull_id}.")
        pull = f"{target.full_name}#{target.pr_number}"
        try:
            started = await manual.run_on_pull(conn, name, pull, asked_by="admin")
        except manual.CannotRun as exc:
            return redirect(f"/admin/pulls/{pull_id}?" + urlencode({"error": str(exc)}))
    log.info(
        "admin run of %s on %s: %s",
        started.workflow,
        pull,
        started.id,
        extra={"action": "admin_workflow_run"},
    )
    return redirect(f"/admin/executions/{started.id}")


# ---------------------------------------------------------------------------------------------
# Workflows: seed 001's views, the declared workflows, one execution's logs
# ---------------------------------------------------------------------------------------------


async def workflows_page(request: Request, admin: Admin) -> Response:
    async with connection(admin.ctx.pool) as conn:
        stats = await workflow_views.performance(conn)
        recent = await workflow_views.recent(conn, limit=PAGE_SIZE * 2)
        found = await workflow_views.declared_workflows(conn)
        problems = await workflow_views.source_problems(conn)
    return admin.render(
        request,
        "workflows.html",
        stats=stats,
        recent=recent,
        declared=found,
        problems=[(row, _json(row.problems)) for row in problems],
    )


async def execution_page(request: Request, admin: Admin) -> Response:
    execution_id: uuid.UUID = request.path_params["execution_id"]
    async with connection(admin.ctx.pool) as conn:
        run = await workflow_views.execution(conn, execution_id)
        lines = await workflow_views.logs(conn, execution_id) if run is not None else []
    if run is None:
        return admin.not_found(request, f"No execution has id {execution_id}.")
    cancelled = request.query_params.get("cancelled") == "1"
    replayed = request.query_params.get("replayed") == "1"
    return admin.render(
        request,
        "execution.html",
        run=run,
        lines=lines,
        cancelled=cancelled,
        replayed=replayed,
        error=None,
    )


async def replay_execution(request: Request, admin: Admin, form: Form) -> Response:
    """The Replay button of a finished execution's page (`hookwise replay --execution`'s rule):
    pending again, due now. Refused (409, the reason on the page) for one pending or running;
    404 for an id no execution has."""

    async def replay(conn: asyncpg.Connection, execution_id: uuid.UUID) -> tuple[bool, str, str]:
        done = await executions.replay(conn, execution_id, reason=replay_reason("admin"))
        return done.replayed, done.status or "unknown", replayed_line(execution_id, done)

    return await _execution_action(request, admin, "replay", "replayed", replay)


async def cancel_execution(request: Request, admin: Admin, form: Form) -> Response:
    """The Cancel button of a pending execution's page. Refused (409, the reason on the page)
    for one running now or finished; 404 for an id no execution has."""

    async def cancel(conn: asyncpg.Connection, execution_id: uuid.UUID) -> tuple[bool, str, str]:
        done = await executions.cancel(conn, execution_id, reason=cancel_reason("admin"))
        return done.cancelled, done.status or "unknown", cancelled_line(execution_id, done)

    return await _execution_action(request, admin, "cancel", "cancelled", cancel)


async def _execution_action(
    request: Request,
    admin: Admin,
    verb: str,
    done: str,
    act: Callable[[asyncpg.Connection, uuid.UUID], Awaitable[tuple[bool, str, str]]],
) -> Response:
    """An execution page's button: `act` (whether it was done, the status that kept it, the
    CLI's line for it), logged as admin_execution_{verb}; then back to the page (`?{done}=1`),
    or the page with the reason (409), or 404 for an id no execution has."""
    execution_id: uuid.UUID = request.path_params["execution_id"]
    async with connection(admin.ctx.pool) as conn:
        acted, status, line = await act(conn, execution_id)
        run = await workflow_views.execution(conn, execution_id)
        lines = await workflow_views.logs(conn, execution_id) if run is not None else []
    outcome = done if acted else status
    log.info(
        "admin %s of execution %s from %s: %s",
        verb,
        execution_id,
        _client(request),
        outcome,
        extra={
            "action": f"admin_execution_{verb}",
            "execution_id": str(execution_id),
            "outcome": outcome,
        },
    )
    if acted:
        return redirect(f"/admin/executions/{execution_id}?{done}=1")
    if run is None:
        return admin.not_found(request, f"No execution has id {execution_id}.")
    not_done = f"Not {done}: {line}."
    return admin.render(
        request,
        "execution.html",
        status=409,
        run=run,
        lines=lines,
        cancelled=False,
        replayed=False,
        error=not_done,
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def settings_page(request: Request, admin: Admin) -> Response:
    repository_id: uuid.UUID = request.path_params["repository_id"]
    async with connection(admin.ctx.pool) as conn:
        row = await repositories.with_override(conn, repository_id)
    if row is None:
        return admin.not_found(request, f"No repository has id {repository_id}.")
    override = row.config_override
    text = yaml.safe_dump(override, sort_keys=True) if override else ""
    return admin.render(
        request,
        "settings.html",
        repository_id=repository_id,
        full_name=row.full_name,
        text=text,
        error=None,
        saved=request.query_params.get("saved") == "1",
    )


async def save_settings(request: Request, admin: Admin, form: Form) -> Response:
    """The override as hookwise.yml would say it; empty removes it. Refused (400) with the
    mistake named, as a file with it would be."""
    repository_id: uuid.UUID = request.path_params["repository_id"]
    text = form.get("override", "")
    data, error = settings_of(text, "the override", workflows=False)
    async with connection(admin.ctx.pool) as conn:
        row = await repositories.with_override(conn, repository_id)
        if row is None:
            return admin.not_found(request, f"No repository has id {repository_id}.")
        if error is None:
            await repositories.set_config_override(conn, repository_id, data)
    if error is not None:
        values = {"full_name": row.full_name, "text": text, "error": error, "saved": False}
        return admin.render(
            request, "settings.html", status=400, repository_id=repository_id, **values
        )
    log.info(
        "admin set the settings override of %s",
        row.full_name,
        extra={"action": "admin_config_override"},
    )
    return redirect(f"/admin/repositories/{repository_id}/settings?saved=1")


# ---------------------------------------------------------------------------------------------
# Redelivery by GitHub
# ---------------------------------------------------------------------------------------------


async def redeliver_page(request: Request, admin: Admin) -> Response:
    github = admin.ctx.github
    since_text = (request.query_params.get("since") or REDELIVER_SINCE).strip()
    values: dict[str, Any] = {
        "configured": github is not None,
        "since": since_text,
        "candidates": [],
        "stored": set(),
        "error": None,
        "asked": request.query_params.get("asked"),
        "outcome": request.query_params.get("outcome"),
    }
    if github is None:
        return admin.render(request, "redeliver.html", **values)
    now = datetime.now(UTC)
    try:
        # GitHub keeps 3 days of deliveries; asking for more only pages through nothing.
        since = max(parse_time(since_text, now=now), now - redeliver.RETENTION)
    except ValueError as exc:
        return admin.render(request, "redeliver.html", status=400, **(values | {"error": exc}))
    try:
        summaries = await redeliver.recent_deliveries(github, since)
    except (GitHubException, httpx.HTTPError, RateLimited) as exc:
        status = 503 if isinstance(exc, RateLimited) else 502
        error = f"{redeliver.no_log(exc)}."
        return admin.render(request, "redeliver.html", status=status, **(values | {"error": error}))
    candidates = redeliver.undelivered(summaries)
    async with connection(admin.ctx.pool) as conn:
        stored = await events.stored_deliveries(conn, "github", [c.guid for c in candidates])
    values |= {"candidates": candidates, "stored": stored}
    return admin.render(request, "redeliver.html", **values)


async def redeliver_one(request: Request, admin: Admin, form: Form) -> Response:
    github = admin.ctx.github
    if github is None:
        return admin.not_found(request, "No GitHub App is configured.")
    delivery_id: int = request.path_params["delivery_id"]
    try:
        await github.app_api().post(
            "/app/hook/deliveries/{delivery_id}/attempts", {"delivery_id": delivery_id}, data=b""
        )
        outcome = "requested"
    except (GitHubException, httpx.HTTPError, RateLimited) as exc:
        log.warning("admin redelivery of %d refused: %s", delivery_id, exc)
        # GitHub's 404: an id its log never had or no longer keeps (3 days), not a refusal.
        if isinstance(exc, HTTPException) and exc.status_code == HTTPStatus.NOT_FOUND:
            return admin.not_found(request, f"GitHub's delivery log has no delivery {delivery_id}.")
        outcome = "refused"
    log.info(
        "admin redelivery of %d: %s",
        delivery_id,
        outcome,
        extra={"action": "admin_redeliver", "outcome": outcome},
    )
    back = {"since": form.get("since") or REDELIVER_SINCE, "asked": delivery_id, "outcome": outcome}
    return redirect("/admin/redeliver?" + urlencode(back))


def routes(ctx: Context) -> list[Route]:
    """The admin pages, templates loaded now; none at all without HOOKWISE_ADMIN_TOKEN."""
    token = ctx.settings.admin.token
    if token is None:
        return []
    admin = Admin(
        ctx=ctx,
        sessions=Sessions.for_token(token.get_secret_value()),
        templates=load_templates(),
        stylesheet=(HERE / "static" / "admin.css").read_bytes(),
    )
    return [
        Route("/admin", home),
        Route("/admin/static/admin.css", partial(stylesheet, admin=admin)),
        Route("/admin/login", partial(login_form, admin=admin), methods=["GET"]),
        Route("/admin/login", partial(login, admin=admin), methods=["POST"]),
        Route("/admin/logout", action(logout, admin), methods=["POST"]),
        Route("/admin/deliveries", page(deliveries_page, admin)),
        Route("/admin/deliveries/{event_id:uuid}", page(delivery_page, admin)),
        Route("/admin/deliveries/{event_id:uuid}/replay", action(replay, admin), methods=["POST"]),
        Route("/admin/installations", page(installations_page, admin)),
        Route("/admin/pulls", page(pulls_page, admin)),
        Route("/admin/pulls/{pull_id:uuid}", page(pull_page, admin)),
        Route("/admin/pulls/{pull_id:uuid}/run", action(run_workflow, admin), methods=["POST"]),
        Route("/admin/workflows", page(workflows_page, admin)),
        Route("/admin/executions/{execution_id:uuid}", page(execution_page, admin)),
        Route(
            "/admin/executions/{execution_id:uuid}/cancel",
            action(cancel_execution, admin),
            methods=["POST"],
        ),
        Route(
            "/admin/executions/{execution_id:uuid}/replay",
            action(replay_execution, admin),
            methods=["POST"],
        ),
        Route("/admin/repositories/{repository_id:uuid}/settings", page(settings_page, admin)),
        Route(
            "/admin/repositories/{repository_id:uuid}/settings",
            action(save_settings, admin),
            methods=["POST"],
        ),
        Route("/admin/redeliver", page(redeliver_page, admin)),
        Route("/admin/redeliver/{delivery_id:int}", action(redeliver_one, admin), methods=["POST"]),
    ]
