"""A fake GitHub: the REST API and App manifest pages hookwise uses, on a real loopback server.

A Starlette app on uvicorn at 127.0.0.1 on a free port, in the test's own event loop, with
in-memory state. Production code reaches it only through its base URL, `fake.url`, which stands
for both https://api.github.com and https://github.com. Replies use GitHub's wire format: status
codes, `Link` paging, `X-RateLimit-*` and `X-GitHub-Request-Id` on every reply, and errors as JSON
with `message`, `documentation_url` and `status`.

    async with FakeGitHub(hook_url=f"{hookwise.url}/webhooks/github") as github:
        github.add_installation(1)
        delivery = await github.deliver("pull_request", payload)  # signed as GitHub signs
        github.fail("POST", r"/app/installations/\\d+/access_tokens", status=502)
        github.hold("GET", r"/repos/[^/]+/[^/]+/pulls/\\d+/files")  # answered on release()

Adding an endpoint: write `async def endpoint(request) -> Response`. It finds the fake with
`github_of(request)`, checks credentials with `app_auth(request)` (App JWT) or
`installation_auth(request)` (installation token; returns the installation id), raises
`GitHubError` for an error reply and answers with `reply(...)` or `paged(...)`. Then add its
`Route` to ROUTES. Recording, injected failures and GitHub's headers come from GitHubWire.

The repository side (repositories, pull requests, reviews, comments, contents, check runs, Actions
jobs and logs, git data) is in tests/fakes/github_repos.py: FakeGitHub is built on its RepoState,
which holds that state and the helpers that set it up (add_repo, commit_files, add_pull,
add_check_run, add_actions_job...), and ROUTES includes its REPO_ROUTES.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deliveries import github_signature
from tests.contracts.openapi import checking, rest_contract
from tests.fakes import JSONReply
from tests.fakes.github_repos import BLOB_PREFIX, REPO_ROUTES, RepoState
from tests.harness import serving

DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
REDIRECT_DOCS = (
    "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"
)
JSON_TYPE = "application/json; charset=utf-8"

HOOK_ID = 9000001
FIRST_DELIVERY_ID = 1_000_001
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000
# GitHub refuses App JWTs that live longer than 10 minutes, and tolerates a minute of clock drift
# on `iat`.
JWT_MAX_LIFETIME = 600
CLOCK_SKEW = 60
# GitHub gives up on a webhook delivery after 10 seconds.
DELIVERY_TIMEOUT = 10.0
# How long requested() waits for a request before the test fails.
REQUEST_WAIT = 10.0
TOKEN_ALPHABET = string.ascii_letters + string.digits
# github.com's web pages the fake serves beside the API: outside the REST contract.
WEB_PAGES = re.compile(r"(/organizations/[^/]+)?/settings/apps/new")

APP_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "read",
    "metadata": "read",
    "pull_requests": "write",
}
APP_EVENTS = ["check_run", "check_suite", "pull_request", "pull_request_review", "push"]

JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at"
    " which the assertion expires"
)
JWT_BAD_IAT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was"
    " issued"
)
JWT_NO_ISS = "Missing 'issuer' claim ('iss') in assertion"
JWT_BAD_ISS = "'Issuer' claim ('iss') must be an Integer"
BAD_CREDENTIALS = "Bad credentials"
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    " If you reach out to GitHub Support for help, please include the request ID {request_id}."
)


# Value objects


@dataclass(eq=False)
class Recorded:
    """One request the fake received, and the status it answered (0 while it has not)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # lower-case names
    body: bytes = field(repr=False)
    json: Any = field(repr=False)  # the body parsed, or None when it is not JSON
    status: int = 0
    # time.monotonic() on arrival: tests check the spacing GitHub asks of writes.
    at: float = field(default_factory=time.monotonic)
    # time.monotonic() when the answer began (0 while none has): with `at`, whether requests
    # of one installation overlapped.
    answered_at: float = 0.0


@dataclass(eq=False)
class Delivery:
    """One attempt to deliver a webhook, as GET /app/hook/deliveries/{id} shows it."""

    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    duration: float
    status: str
    status_code: int  # 0 when no HTTP response came back
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    url: str
    request_headers: dict[str, str] = field(repr=False)
    payload: Any = field(repr=False)
    body: bytes = field(repr=False)
    response_headers: dict[str, str] = field(repr=False)
    response_body: str = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "url": self.url,
            "request": {"headers": self.request_headers, "payload": self.payload},
            "response": {"headers": self.response_headers, "payload": self.response_body},
        }


@dataclass(eq=False)
class Failure:
    """A reply to give instead of the normal one; status 0 gives none at all. `after`: the
    request is carried out first, and only its answer is lost or replaced."""

    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None
    times: int
    after: bool = False
    secondary: bool = False


@dataclass(eq=False)
class PendingApp:
    """An App manifest posted to the web page, waiting for its code to be converted."""

    manifest: dict[str, Any]
    owner: dict[str, Any]


class GitHubError(Exception):
    """An error reply, rendered as GitHub renders errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        documentation_url: str = DOCS,
        errors: list[Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.errors = errors  # GitHub's `errors` list of a 422, when it gives one


# The fake


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _created_at() -> str:
    return iso(now())


@dataclass(kw_only=True, eq=False)
class FakeGitHub(RepoState):
    """GitHub as one GitHub App sees it.

    webhook_secret: signs deliveries (X-Hub-Signature-256, and the legacy sha1 X-Hub-Signature).
    hook_url: where deliver() and redeliveries POST; may be set after construction.
    app_id, slug, client_id: the App; an App JWT's `iss` may be the app id or the client id.
    token_ttl: seconds an installation token lives (GitHub: one hour).
    max_per_page: the most items a page holds, whatever per_page asks (GitHub: 100).

    An RSA key pair is generated per fake: hookwise signs App JWTs with `private_key_pem`.
    """

    webhook_secret: str = field(default="It's a Secret to Everybody", repr=False)
    hook_url: str | None = None
    app_id: int = 4242
    slug: str = "hookwise-test"
    client_id: str = "Iv1.fake0123456789"
    token_ttl: float = 3600.0
    max_per_page: int = MAX_PER_PAGE
    # Seconds GitHub takes to answer each API request (0: at once), as its servers do.
    latency: float = 0.0
    # GitHub may answer a manifest conversion with "webhook_secret": null: the App's webhook
    # then has no secret until one is set (PATCH /app/hook/config).
    converts_with_secret: bool = True

    url: str = field(default="", init=False)
    name: str = field(default="Hookwise Test", init=False)
    description: str = field(default="", init=False, repr=False)
    external_url: str = field(default="https://hookwise.invalid", init=False, repr=False)
    created_at: str = field(default_factory=_created_at, init=False, repr=False)
    owner: dict[str, Any] = field(
        default_factory=lambda: account("octo-org", "Organization"), init=False, repr=False
    )
    permissions: dict[str, str] = field(
        default_factory=lambda: dict(APP_PERMISSIONS), init=False, repr=False
    )
    events: list[str] = field(default_factory=lambda: list(APP_EVENTS), init=False, repr=False)
    client_secret: str = field(
        default_factory=lambda: secrets.token_hex(20), init=False, repr=False
    )
    hook_id: int = field(default=HOOK_ID, init=False)
    delivery_timeout: float = field(default=DELIVERY_TIMEOUT, init=False, repr=False)
    rate_limit: int = field(default=RATE_LIMIT, init=False, repr=False)
    rate_used: int = field(default=0, init=False, repr=False)
    rate_reset: int = field(default_factory=lambda: int(time.time()) + 3600, init=False, repr=False)

    requests: list[Recorded] = field(default_factory=list, init=False, repr=False)
    installations: dict[int, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    tokens: dict[str, tuple[int, datetime]] = field(default_factory=dict, init=False, repr=False)
    deliveries: list[Delivery] = field(default_factory=list, init=False, repr=False)
    manifests: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    failures: list[Failure] = field(default_factory=list, init=False, repr=False)
    # Requests and replies that break GitHub's published contract (tests/contracts/): leaving
    # the fake with any left fails the test. A test that breaks it on purpose takes them.
    violations: list[str] = field(default_factory=list, init=False, repr=False)
    conversions: dict[str, PendingApp] = field(default_factory=dict, init=False, repr=False)
    key: rsa.RSAPrivateKey = field(default_factory=_new_key, init=False, repr=False)

    _delivery_ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(FIRST_DELIVERY_ID), init=False, repr=False
    )
    _redeliveries: set[asyncio.Task[Delivery]] = field(default_factory=set, init=False, repr=False)
    # Set on exit: releases the requests that fail(status=0) holds.
    _closing: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    # What hold() keeps waiting (method, path pattern), until release() sets _released.
    _holds: list[tuple[str, re.Pattern[str]]] = field(default_factory=list, init=False, repr=False)
    _released: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition, init=False, repr=False)
    _stack: AsyncExitStack | None = field(default=None, init=False, repr=False)
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    @property
    def private_key_pem(self) -> str:
        """The App's private key as GitHub hands it out: PKCS#1 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()

    async def __aenter__(self) -> FakeGitHub:
        app = Starlette(
            routes=ROUTES,
            middleware=[Middleware(GitHubWire, github=self)],
            exception_handlers=EXCEPTION_HANDLERS,
        )
        app.state.github = self
        async with AsyncExitStack() as stack:
            self.url = await stack.enter_async_context(serving(app))
            # A new connection per delivery, as GitHub makes: a kept-alive one could outlive a
            # restart of the receiver and fail the next delivery for the wrong reason.
            self._client = await stack.enter_async_context(
                httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))
            )
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self.release()
        for task in self._redeliveries:
            task.cancel()
        await asyncio.gather(*self._redeliveries, return_exceptions=True)
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
        if self.violations and exc_type is None:
            found = "\n".join(self.take_violations())
            raise AssertionError(f"requests or replies off GitHub's contract:\n{found}")

    def take_violations(self) -> list[str]:
        """The contract violations seen so far, forgotten by the fake once taken."""
        taken, self.violations = self.violations, []
        return taken

    def add_installation(
        self,
        installation_id: int,
        *,
        account_login: str = "octo-org",
        account_type: str = "Organization",
        permissions: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Install the App on an account; returns the installation object (without its URLs).

        permissions: what the installation granted; the App's permissions unless given.
        """
        owner = account(account_login, account_type)
        installation = {
            "id": installation_id,
            "account": owner,
            "app_id": self.app_id,
            "app_slug": self.slug,
            "target_id": owner["id"],
            "target_type": account_type,
            "permissions": dict(self.permissions if permissions is None else permissions),
            "events": list(self.events),
            "repository_selection": "all",
            "single_file_name": None,
            "created_at": iso(now()),
            "updated_at": iso(now()),
            "suspended_at": None,
            "suspended_by": None,
        }
        self.installations[installation_id] = installation
        return installation

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        times: int = 1,
        after: bool = False,
        secondary: bool = False,
    ) -> None:
        """Answer the next `times` requests for `method` and `path` with this reply instead.

        `path` is a regex matched in full against the request path. Without `body`, the body is
        GitHub's for the case: a secondary rate limit for 429, or 403 with Retry-After; a primary
        one for 403 with X-RateLimit-Remaining: 0; else the status phrase. Given headers replace
        the usual X-RateLimit-* ones. Status 0 never answers: the request hangs until the client
        gives up or the fake stops (then 503). `after`: the request is carried out first (a
        review is posted...), then its answer is lost (status 0) or replaced (a 502 from a proxy):
        GitHub did the work, and the client cannot know it. `secondary`: a 403 is a secondary
        rate limit even without Retry-After (GitHub sends one only at times).
        """
        if status != 0 and not 100 <= status <= 599:
            raise ValueError(f"status must be 0 (hang) or an HTTP status, not {status}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        pattern = re.compile(path)
        failure = Failure(
            method.upper(), pattern, status, dict(headers or {}), body, times, after, secondary
        )
        self.failures.append(failure)

    def hold(self, method: str, path: str) -> None:
        """Keep the requests for `method` and `path` (a regex matched in full) that come from
        now on waiting, recorded but not carried out, until release(): a test makes a crash
        happen while production code waits on GitHub. `requested()` finds them held."""
        self._released.clear()
        self._holds.append((method.upper(), re.compile(path)))

    def release(self) -> None:
        """Carry out and answer the held requests; hold nothing more."""
        self._holds.clear()
        self._released.set()

    async def gate(self, record: Recorded) -> None:
        """Wait for release() when a hold() matches the request (GitHubWire calls it)."""
        if any(m == record.method and p.fullmatch(record.path) for m, p in self._holds):
            await self._released.wait()

    async def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        action: str | None = None,
        guid: str | None = None,
    ) -> Delivery:
        """POST a webhook to hook_url as GitHub does, and record the attempt.

        `action`, when given, is set in (a copy of) the payload. Returns the delivery: status_code
        0 when no HTTP response came back (refused, reset, timed out).
        """
        if action is not None:
            payload = {**payload, "action": action}
        body = json.dumps(payload).encode()
        return await self._post_webhook(event, body, guid=guid or str(uuid.uuid4()))

    async def settled(self) -> None:
        """Wait for every redelivery asked for so far; GitHub redelivers after answering 202."""
        while self._redeliveries:
            await asyncio.gather(*self._redeliveries)

    async def requested(self, method: str, path: str) -> Recorded:
        """The first request received for `method` and `path` (a regex), waiting (up to 10 s) for
        it to come: lets a test wait for production code to call GitHub without sleeping."""

        def first() -> Recorded | None:
            pattern = re.compile(path)
            for record in self.requests:
                if record.method == method.upper() and pattern.fullmatch(record.path):
                    return record
            return None

        async with asyncio.timeout(REQUEST_WAIT), self._arrived:
            await self._arrived.wait_for(lambda: first() is not None)
        found = first()
        assert found is not None
        return found

    # Used by the endpoints and GitHubWire.

    def app_json(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "slug": self.slug,
            "node_id": f"A_fake{self.app_id}",
            "client_id": self.client_id,
            "owner": self.owner,
            "name": self.name,
            "description": self.description,
            "external_url": self.external_url,
            "html_url": f"{self.url}/apps/{self.slug}",
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "permissions": self.permissions,
            "events": self.events,
            "installations_count": len(self.installations),
        }

    def installation_json(self, installation: dict[str, Any]) -> dict[str, Any]:
        installation_id = installation["id"]
        login = installation["account"]["login"]
        settings = (
            f"/organizations/{login}" if installation["target_type"] == "Organization" else ""
        )
        return {
            **installation,
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{self.url}{settings}/settings/installations/{installation_id}",
        }

    def issue_token(self, installation_id: int) -> tuple[str, datetime]:
        token = "ghs_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(36))
        # GitHub's expires_at has whole seconds; the token dies at exactly that time.
        expires_at = (now() + timedelta(seconds=self.token_ttl)).replace(microsecond=0)
        self.tokens[token] = (installation_id, expires_at)
        return token, expires_at

    def installation_for(self, authorization: str) -> int | None:
        """The installation a live token in an Authorization header belongs to, if any."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        issued = self.tokens.get(token.strip())
        if issued is None or issued[1] <= now() or issued[0] not in self.installations:
            return None
        return issued[0]

    def rate_json(self) -> dict[str, int]:
        used = self.rate_used
        return {
            "limit": self.rate_limit,
            "used": used,
            "remaining": max(self.rate_limit - used, 0),
            "reset": self.rate_reset,
        }

    def wire_headers(self, request_id: str) -> dict[str, str]:
        rate = self.rate_json()
        return {
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": request_id,
            "X-RateLimit-Limit": str(rate["limit"]),
            "X-RateLimit-Remaining": str(rate["remaining"]),
            "X-RateLimit-Reset": str(rate["reset"]),
            "X-RateLimit-Used": str(rate["used"]),
            "X-RateLimit-Resource": "core",
        }

    def take_failure(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.method == method and failure.path.fullmatch(path):
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
                return failure
        return None

    async def record(self, record: Recorded) -> None:
        async with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()

    def redeliver(self, delivery: Delivery) -> None:
        """Deliver again in the background, with the same GUID and body, as a redelivery."""
        task = asyncio.create_task(
            self._post_webhook(delivery.event, delivery.body, guid=delivery.guid, redelivery=True),
            name=f"redeliver:{delivery.id}",
        )
        self._redeliveries.add(task)
        task.add_done_callback(self._redeliveries.discard)

    def adopt_manifest(self, pending: PendingApp) -> None:
        """Become the App the manifest describes, as GitHub creates it on conversion."""
        manifest = pending.manifest
        self.name = manifest.get("name") or self.name
        self.slug = slugify(self.name)
        self.description = manifest.get("description") or ""
        self.external_url = manifest["url"]
        self.owner = pending.owner
        self.permissions = dict(manifest.get("default_permissions") or {})
        self.events = list(manifest.get("default_events") or [])
        self.hook_url = manifest["hook_attributes"]["url"]
        self.webhook_secret = secrets.token_hex(20) if self.converts_with_secret else ""
        self.client_secret = secrets.token_hex(20)

    async def _post_webhook(
        self, event: str, body: bytes, *, guid: str, redelivery: bool = False
    ) -> Delivery:
        if self.hook_url is None:
            raise RuntimeError("FakeGitHub.hook_url is not set: there is nowhere to deliver")
        if self._client is None:
            raise RuntimeError("FakeGitHub is not running: use it as `async with FakeGitHub()`")
        url = self.hook_url
        headers = webhook_headers(
            event,
            body,
            guid=guid,
            hook_id=self.hook_id,
            app_id=self.app_id,
            secret=self.webhook_secret,
        )
        delivered_at = now()
        started = time.monotonic()
        try:
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self.delivery_timeout
            )
        except httpx.TransportError as exc:
            status_code, status, response_headers, response_body = 0, no_response(exc), {}, ""
        else:
            status_code = response.status_code
            status = "OK" if response.is_success else f"Invalid HTTP Response: {status_code}"
            response_headers, response_body = dict(response.headers), response.text
        payload = json.loads(body)
        delivery = Delivery(
            id=next(self._delivery_ids),
            guid=guid,
            delivered_at=delivered_at,
            redelivery=redelivery,
            duration=round(time.monotonic() - started, 3),
            status=status,
            status_code=status_code,
            event=event,
            action=payload.get("action") if isinstance(payload.get("action"), str) else None,
            installation_id=id_of(payload, "installation"),
            repository_id=id_of(payload, "repository"),
            url=url,
            request_headers=headers,
            payload=payload,
            body=body,
            response_headers=response_headers,
            response_body=response_body,
        )
        self.deliveries.append(delivery)
        return delivery


# Credentials


def github_of(request: Request) -> FakeGitHub:
    github: FakeGitHub = request.app.state.github
    return github


def app_auth(request: Request) -> dict[str, Any]:
    """The claims of the request's App JWT, or a 401 with the message GitHub gives."""
    github = github_of(request)
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise GitHubError(401, JWT_UNDECODABLE)
    try:
        claims: dict[str, Any] = jwt.decode(
            credential.strip(),
            github.key.public_key(),
            algorithms=["RS256"],
            # The claims are checked below, to answer with GitHub's messages.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise GitHubError(401, JWT_UNDECODABLE) from None
    check_app_claims(claims, app_id=github.app_id, client_id=github.client_id, at=time.time())
    return claims


def check_app_claims(claims: Mapping[str, Any], *, app_id: int, client_id: str, at: float) -> None:
    iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
    if not is_integer(iat) or iat > at + CLOCK_SKEW:
        raise GitHubError(401, JWT_BAD_IAT)
    if not is_number(exp) or exp <= at:
        raise GitHubError(401, JWT_EXPIRED)
    if exp - iat > JWT_MAX_LIFETIME or exp > at + JWT_MAX_LIFETIME:
        raise GitHubError(401, JWT_EXP_TOO_FAR)
    if iss is None:
        raise GitHubError(401, JWT_NO_ISS)
    if str(iss) not in (str(app_id), client_id):
        # A number (or client id) names some other App, whose key did not sign this.
        looks_like_an_app = str(iss).isdigit() or str(iss).startswith("Iv")
        raise GitHubError(401, JWT_UNDECODABLE if looks_like_an_app else JWT_BAD_ISS)


def installation_auth(request: Request) -> int:
    """The installation whose live token authorizes the request, or 401 Bad credentials."""
    authorization = request.headers.get("authorization", "")
    installation_id = github_of(request).installation_for(authorization)
    if installation_id is None:
        raise GitHubError(401, BAD_CREDENTIALS)
    return installation_id


# Endpoints: the App (JWT)


async def get_app(request: Request) -> Response:
    app_auth(request)
    return reply(github_of(request).app_json())


async def list_installations(request: Request) -> Response:
    app_auth(request)
    github = github_of(request)
    return paged(request, [github.installation_json(i) for i in github.installations.values()])


async def get_installation(request: Request) -> Response:
    app_auth(request)
    github = github_of(request)
    return reply(github.installation_json(known_installation(request)))


async def create_access_token(request: Request) -> Response:
    app_auth(request)
    github = github_of(request)
    installation = known_installation(request)
    if installation["suspended_at"] is not None:
        raise GitHubError(403, "This installation has been suspended")
    asked = await json_body(request)
    token, expires_at = github.issue_token(installation["id"])
    selected = asked.get("repositories") or asked.get("repository_ids")
    body = {
        "token": token,
        "expires_at": iso(expires_at),
        "permissions": asked.get("permissions") or installation["permissions"],
        "repository_selection": "selected" if selected else installation["repository_selection"],
    }
    return reply(body, status_code=201)


# Endpoints: the App's webhook deliveries (JWT)


async def list_deliveries(request: Request) -> Response:
    """Newest first, paged by an opaque cursor in the `Link` header, as GitHub pages them."""
    app_auth(request)
    github = github_of(request)
    per_page = per_page_of(request)
    before = decode_cursor(request.query_params.get("cursor"))
    # GitHub's `status` filter: success (answered 2xx) or failure (anything else).
    status = request.query_params.get("status")
    if status not in (None, "success", "failure"):
        raise GitHubError(422, "Validation Failed")
    remaining = [
        delivery
        for delivery in sorted(github.deliveries, key=lambda d: d.id, reverse=True)
        if (before is None or delivery.id < before)
        and (status is None or (delivery.status == "OK") == (status == "success"))
    ]
    page = remaining[:per_page]
    headers = {}
    if len(remaining) > per_page:
        query = {"per_page": str(per_page), "cursor": encode_cursor(page[-1].id)}
        if status is not None:
            query["status"] = status
        headers["Link"] = f'<{github.url}/app/hook/deliveries?{urlencode(query)}>; rel="next"'
    return reply([delivery.summary() for delivery in page], headers=headers)


async def get_delivery(request: Request) -> Response:
    app_auth(request)
    return reply(known_delivery(request).detail())


async def redeliver(request: Request) -> Response:
    app_auth(request)
    github = github_of(request)
    delivery = known_delivery(request)
    if github.hook_url is None:
        raise GitHubError(422, "Validation Failed")
    github.redeliver(delivery)
    return reply({}, status_code=202)


# Endpoints: an installation (installation token)


async def list_installation_repositories(request: Request) -> Response:
    github = github_of(request)
    installation_id = installation_auth(request)
    selection = github.installations[installation_id]["repository_selection"]
    repos = [
        github.repo_json(r) for r in github.repos.values() if r.installation_id == installation_id
    ]
    window, headers = page_window(request, len(repos))
    body = {
        "total_count": len(repos),
        "repository_selection": selection,
        "repositories": repos[window],
    }
    return reply(body, headers=headers)


async def get_rate_limit(request: Request) -> Response:
    core = github_of(request).rate_json()
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": int(time.time()) + 60}
    resources = {"core": core, "search": search, "graphql": core}
    return reply({"resources": resources, "rate": core})


# Endpoints: the App manifest flow (github.com's web page, then the API)


async def new_app_from_manifest(request: Request) -> Response:
    """The page a manifest form posts to. GitHub asks the user to confirm; the fake just does."""
    github = github_of(request)
    form = await form_of(request)
    manifest = parse_manifest(form.get("manifest"))
    state = form.get("state") or request.query_params.get("state")
    org = request.path_params.get("org")
    owner = account(org, "Organization") if org else account("octocat", "User")
    github.manifests.append(manifest)
    code = secrets.token_hex(10)
    github.conversions[code] = PendingApp(manifest=manifest, owner=owner)
    location = with_query(manifest["redirect_url"], code=code, state=state)
    return RedirectResponse(location, status_code=302)


async def convert_manifest(request: Request) -> Response:
    github = github_of(request)
    pending = github.conversions.pop(request.path_params["code"], None)
    if pending is None:
        raise GitHubError(404, "Not Found")
    github.adopt_manifest(pending)
    body = {
        **github.app_json(),
        "client_secret": github.client_secret,
        "webhook_secret": github.webhook_secret or None,
        "pem": github.private_key_pem,
    }
    return reply(body, status_code=201)


async def update_hook_config(request: Request) -> Response:
    """The App's webhook: url, content_type, secret, insecure_ssl (GitHub shows the secret as
    asterisks)."""
    app_auth(request)
    github = github_of(request)
    changes = await json_body(request)
    if "secret" in changes:
        github.webhook_secret = str(changes["secret"] or "")
    if changes.get("url"):
        github.hook_url = str(changes["url"])
    config = {
        "content_type": "json",
        "insecure_ssl": "0",
        "url": github.hook_url or "",
        **({"secret": "********"} if github.webhook_secret else {}),
    }
    return reply(config)


ROUTES = [
    Route("/app", get_app, methods=["GET"]),
    Route("/app/hook/config", update_hook_config, methods=["PATCH"]),
    Route("/app/installations", list_installations, methods=["GET"]),
    Route("/app/installations/{installation_id:int}", get_installation, methods=["GET"]),
    Route(
        "/app/installations/{installation_id:int}/access_tokens",
        create_access_token,
        methods=["POST"],
    ),
    Route("/app/hook/deliveries", list_deliveries, methods=["GET"]),
    Route("/app/hook/deliveries/{delivery_id:int}", get_delivery, methods=["GET"]),
    Route("/app/hook/deliveries/{delivery_id:int}/attempts", redeliver, methods=["POST"]),
    Route("/installation/repositories", list_installation_repositories, methods=["GET"]),
    Route("/rate_limit", get_rate_limit, methods=["GET"]),
    Route("/settings/apps/new", new_app_from_manifest, methods=["POST"]),
    Route("/organizations/{org}/settings/apps/new", new_app_from_manifest, methods=["POST"]),
    Route("/app-manifests/{code}/conversions", convert_manifest, methods=["POST"]),
    *REPO_ROUTES,
]


# Endpoint helpers


def reply(
    content: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONReply(
        content, status_code=status_code, headers=dict(headers or {}), media_type=JSON_TYPE
    )


def error_body(status: int, message: str, documentation_url: str = DOCS) -> dict[str, Any]:
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def known_installation(request: Request) -> dict[str, Any]:
    installation = github_of(request).installations.get(request.path_params["installation_id"])
    if installation is None:
        raise GitHubError(404, "Not Found")
    return installation


def known_delivery(request: Request) -> Delivery:
    wanted = request.path_params["delivery_id"]
    for delivery in github_of(request).deliveries:
        if delivery.id == wanted:
            return delivery
    raise GitHubError(404, "Not Found")


async def json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise GitHubError(400, "Problems parsing JSON") from None
    if not isinstance(parsed, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return parsed


async def form_of(request: Request) -> dict[str, str]:
    """A urlencoded form, as a browser posts it (Starlette's parser needs python-multipart)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise GitHubError(415, "Expected a form (application/x-www-form-urlencoded)")
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def parse_manifest(text: str | None) -> dict[str, Any]:
    try:
        manifest = json.loads(text or "")
    except ValueError:
        raise GitHubError(422, "Invalid manifest: the manifest field is not JSON") from None
    if not isinstance(manifest, dict):
        raise GitHubError(422, "Invalid manifest: not a JSON object")
    hook = manifest.get("hook_attributes")
    required = {
        "url": manifest.get("url"),
        "hook_attributes.url": hook.get("url") if isinstance(hook, dict) else None,
        "redirect_url": manifest.get("redirect_url"),
    }
    missing = [name for name, value in required.items() if not isinstance(value, str) or not value]
    if missing:
        raise GitHubError(422, f"Invalid manifest: {', '.join(missing)} required")
    return manifest


def per_page_of(request: Request) -> int:
    """GitHub's per_page: 30 unless given, at most 100 (or the fake's max_per_page)."""
    cap = github_of(request).max_per_page
    try:
        per_page = int(request.query_params.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        return min(DEFAULT_PER_PAGE, cap)
    return min(max(per_page, 1), cap)


def paged(request: Request, items: list[Any]) -> Response:
    """One page of a page-numbered list, with GitHub's `Link` (prev, next, last, first)."""
    window, headers = page_window(request, len(items))
    return reply(items[window], headers=headers)


def page_window(request: Request, count: int) -> tuple[slice, dict[str, str]]:
    """The items of a page-numbered list of `count` that the request asks for, and the `Link`
    header to go with them: for lists GitHub wraps in an object ({"total_count", "jobs"...})."""
    per_page = per_page_of(request)
    try:
        page = max(int(request.query_params.get("page", 1)), 1)
    except ValueError:
        page = 1
    last = max(-(-count // per_page), 1)

    def link(number: int, rel: str) -> str:
        query = urlencode({**request.query_params, "per_page": per_page, "page": number})
        path = request.scope.get("raw_path", b"").decode() or request.scope["path"]
        return f'<{github_of(request).url}{path}?{query}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    headers = {"Link": ", ".join(links)} if links else {}
    return slice((page - 1) * per_page, page * per_page), headers


def encode_cursor(delivery_id: int) -> str:
    return base64.urlsafe_b64encode(f"delivery:{delivery_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind == "delivery":
            return int(number)
    except ValueError:
        pass
    raise GitHubError(400, "Invalid cursor")


def with_query(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


# Webhooks


def webhook_headers(
    event: str, body: bytes, *, guid: str, hook_id: int, app_id: int, secret: str
) -> dict[str, str]:
    """The headers GitHub sends with an App's webhook."""
    headers = {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc1234",
        "X-GitHub-Delivery": guid,
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(app_id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
    }
    if secret:  # GitHub signs only when the hook has a secret
        sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature"] = f"sha1={sha1}"
        headers["X-Hub-Signature-256"] = github_signature(secret.encode(), body)
    return headers


def no_response(exc: httpx.TransportError) -> str:
    """The status GitHub shows for a delivery that got no HTTP response."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "failed to connect to host"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return "connection reset by peer"


def id_of(payload: Any, key: str) -> int | None:
    """payload[key]["id"], e.g. the installation or repository a webhook is about."""
    if isinstance(payload, dict) and isinstance(payload.get(key), dict):
        value = payload[key].get("id")
        return value if is_integer(value) else None
    return None


# Wire: recording, injected failures, GitHub's headers


class GitHubWire:
    """Records every request, answers injected failures, and stamps GitHub's headers on replies."""

    def __init__(self, app: ASGIApp, *, github: FakeGitHub) -> None:
        self.app = app
        self.github = github

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        github = self.github
        body = await read_body(receive)
        request = Request(scope)
        record = Recorded(
            method=request.method,
            # The decoded path as the server read it: Starlette's request.url re-parses it, so
            # a `%23` (a label `fix#12`) would turn into a fragment and cut the path there.
            path=scope["path"],
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=body,
            json=json_or_none(body),
        )
        await github.record(record)
        # The log links point at a blob store, which neither counts nor says GitHub's headers.
        blob = record.path.startswith(BLOB_PREFIX)
        if record.path != "/rate_limit" and not blob:  # as on GitHub, asking costs nothing
            github.rate_used += 1
        request_id = new_request_id()
        stamped = {} if blob else github.wire_headers(request_id)
        replay = replaying(body, receive)
        stamp = stamping(send, record, stamped)
        installation_id = github.installation_for(record.headers.get("authorization", ""))
        moved = github.redirect(record.path, installation_id=installation_id)
        if moved is not None:
            # GitHub's "HTTP redirects": any request may be redirected, so the description
            # leaves 301/307 out of most operations; only the request is checked.
            self.report(
                record,
                rest_contract().check_request(
                    record.method, record.path, record.query, record.body
                )[1],
            )
            await redirect_to(github, record, moved)(scope, replay, stamp)
            return
        # A repository by id: served as the repository by its current name.
        by_id = github.by_id_path(record.path)
        if by_id is not None:
            scope = {**scope, "path": by_id, "raw_path": by_id.encode()}
        if not blob and not WEB_PAGES.fullmatch(record.path):
            stamp = self.checked(record, stamp, by_id or record.path)

        if github.latency and not blob:
            await asyncio.sleep(github.latency)
        await github.gate(record)
        failure = github.take_failure(record.method, record.path)
        if failure is not None and failure.after:

            async def lost(message: Message) -> None:
                pass

            await self.app(scope, replay, lost)
        if failure is None:
            await self.app(scope, replay, stamp)
        elif failure.status == 0:
            if await client_outlasts(receive, github._closing):
                await reply(error_body(503, "The fake GitHub stopped"), status_code=503)(
                    scope, replay, stamp
                )
        else:
            content = failure.body
            if content is None:
                content = failure_body(
                    failure, installation_id=installation_id, request_id=request_id
                )
            response = reply(content, status_code=failure.status, headers=failure.headers)
            await response(scope, replay, stamp)

    def checked(self, record: Recorded, send: Send, path: str) -> Send:
        """Check the request (as made to `path`) against GitHub's contract, and `send` that
        checks the reply."""
        contract = rest_contract()
        operation, problems = contract.check_request(record.method, path, record.query, record.body)
        self.report(record, problems)
        if operation is None:
            return send
        return checking(send, contract, operation, lambda found: self.report(record, found))

    def report(self, record: Recorded, problems: list[str]) -> None:
        self.github.violations += [f"{record.method} {record.path}: {p}" for p in problems]


def redirect_to(github: FakeGitHub, record: Recorded, path: str) -> Response:
    """GitHub's answer to a request by a moved repository's old name: 301 for a read, 307 for
    a write (to be repeated as it was), `Location` and the body's `url` the repository by id."""
    query = f"?{urlencode(record.query)}" if record.query else ""
    location = f"{github.url}{path}{query}"
    status = 301 if record.method in ("GET", "HEAD") else 307
    body = {
        "message": phrase(status),
        "url": location,
        "documentation_url": REDIRECT_DOCS,
    }
    return reply(body, status_code=status, headers={"Location": location})


def failure_body(failure: Failure, *, installation_id: int | None, request_id: str) -> dict:
    headers = {name.lower(): value for name, value in failure.headers.items()}
    status = failure.status
    secondary = failure.secondary or "retry-after" in headers
    if status == 429 or (status == 403 and secondary):
        message = SECONDARY_RATE_LIMIT.format(request_id=request_id)
        return error_body(status, message, f"{RATE_LIMIT_DOCS}#about-secondary-rate-limits")
    if status == 403 and headers.get("x-ratelimit-remaining") == "0":
        who = f"installation ID {installation_id}" if installation_id is not None else "127.0.0.1"
        message = f"API rate limit exceeded for {who}."
        return error_body(status, message, f"{RATE_LIMIT_DOCS}#about-primary-rate-limits")
    return error_body(status, phrase(status))


async def client_outlasts(receive: Receive, closing: asyncio.Event) -> bool:
    """Wait until the client hangs up or the fake stops; True if the client is still there."""
    # The body was read already, so the next message can only be the disconnect.
    hung_up = asyncio.ensure_future(receive())
    stopped = asyncio.ensure_future(closing.wait())
    done, pending = await asyncio.wait({hung_up, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return hung_up not in done


class Answered(Protocol):
    status: int
    answered_at: float


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app behind a middleware that read the body already: the body once,
    then whatever comes next (the disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def stamping(send: Send, record: Answered, stamped: Mapping[str, str]) -> Send:
    """`send` that notes the status on `record` and adds the `stamped` headers the app left out."""

    async def stamp(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
            record.answered_at = time.monotonic()
            headers = MutableHeaders(raw=list(message["headers"]))
            for name, value in stamped.items():
                headers.setdefault(name, value)
            message = {**message, "headers": headers.raw}
        await send(message)

    return stamp


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def github_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GitHubError)
    body = error_body(exc.status, exc.message, exc.documentation_url)
    if exc.errors is not None:
        body = {"message": exc.message, "errors": exc.errors, **body}
    return reply(body, status_code=exc.status)


async def starlette_error(request: Request, exc: Exception) -> Response:
    # Unknown path or method: GitHub answers 404 to both.
    assert isinstance(exc, HTTPException)
    status = 404 if exc.status_code in (404, 405) else exc.status_code
    return reply(error_body(status, phrase(status)), status_code=status)


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    GitHubError: github_error,
    HTTPException: starlette_error,
}


# Small helpers


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """GitHub's timestamps: UTC, whole seconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account(login: str, account_type: str) -> dict[str, Any]:
    """A user or organization as GitHub's `simple-user` shows it."""
    user_id = zlib.crc32(login.encode())
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"{'O' if account_type == 'Organization' else 'U'}_fake{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": account_type,
        "site_admin": False,
    }


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def new_request_id() -> str:
    """Shaped like GitHub's X-GitHub-Request-Id, e.g. CDE0:3A3B:1C2D3E4:1D2E3F4:6650A1B2."""
    parts = (secrets.token_hex(2), secrets.token_hex(2), secrets.token_hex(4)[:7])
    return ":".join([*parts, secrets.token_hex(4)[:7], f"{int(time.time()):X}"]).upper()
