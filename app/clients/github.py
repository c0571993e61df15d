"""The GitHub App's client: gidgethub over httpx, with the manners GitHub asks of an App.

- App JWTs (RS256, iat 60 s in the past for clock drift, under 10 minutes) and installation
  tokens cached until 5 minutes before they expire; concurrent callers share one token request.
- Per installation, one request at a time, and writes (POST/PATCH/PUT/DELETE) a second apart,
  as GitHub's best practices ask: in this process by an asyncio lock, across processes by the
  installation's lease in the database (`leases`, app/store/leases.py).
- 5xx answers and timeouts are retried a few times with backoff; a rate limit (403/429 with
  Retry-After, or X-RateLimit-Remaining: 0 with X-RateLimit-Reset) raises RateLimited, which
  reschedules the event for then instead of sleeping in a worker.
- Except a POST: it creates, and one whose answer was lost (a timeout, a 502 from the edge) may
  have created already, so it is sent again only when it never left (no connection). The error
  goes up instead; the event's next attempt looks for what was created before posting again
  (app/outbound.py).
- What GitHub answers is made storable before anyone reads it (app/text.py): U+0000 dropped
  and lone surrogates written as U+FFFD in a JSON answer's escapes, and in a job's log, so
  that nothing stored from an answer (a pull request's title, a check run's output, an error's
  message) is refused by PostgreSQL.
- A redirect is followed once ("HTTP redirects" in GitHub's REST docs: 301 for a read, 307 for a
  write to repeat as it was). A renamed or transferred repository answers so for its old name,
  pointing at /repositories/{id}; its new name is asked for and handed to `on_moved`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import gidgethub.httpx
import httpx
import jwt
from gidgethub import GitHubException, HTTPException

from app.clients import errors
from app.clients.urls import part, repo_url
from app.metrics import Metrics
from app.retry import backoff
from app.settings import GitHubSettings
from app.text import storable, storable_document

log = logging.getLogger(__name__)

REQUESTER = "hookwise"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
TRIES = 3
# Seconds before asking GET /app again after a failure that names no time.
IDENTITY_RETRY = 60.0
JWT_LIFETIME = 540  # seconds after iat - 60 s: GitHub refuses JWTs living over 10 minutes
TOKEN_MARGIN = timedelta(minutes=5)
# Seconds after its creation in which an installation token's 401 is asked again: GitHub may
# answer 401 to a new token before its replicas know it. @octokit/auth-app retries those for
# five seconds after the token's creation (its hook, "Newly created tokens might not be
# accessible immediately after creation"; octokit/auth-app.js#65, #161).
FRESH_TOKEN = 5.0
# A request that failed in one of these never reached GitHub.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RateLimited(errors.RateLimited):
    """GitHub asked us to wait."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__("GitHub", until, reason)


REDIRECTS = frozenset({301, 302, 307, 308})
BODY_HEADERS = frozenset({"content-length", "content-type"})
# Where a renamed or transferred repository's old name sends requests.
BY_ID = re.compile(r"/repositories/(\d+)(?:/|$)")
# Called with a moved repository's GitHub id and GitHub's answer about it now (its repository
# object: full_name, html_url, updated_at...).
Moved = Callable[[int, Mapping[str, Any]], Awaitable[None]]

# What GitHub's message says when a 403 is a secondary rate limit.
SECONDARY = "secondary rate limit"


def app_jwt(private_key: str, issuer: str, *, now: float) -> str:
    """An App JWT: issued 60 s in the past against clock drift, expiring within 10 minutes."""
    issued = int(now) - 60
    claims = {"iat": issued, "exp": issued + JWT_LIFETIME, "iss": issuer}
    return jwt.encode(claims, private_key, algorithm="RS256")


def rate_limit_reset(
    status: int, headers: Mapping[str, str], *, now: datetime, message: str = ""
) -> datetime | None:
    """When GitHub will take requests again, if this answer is a rate limit; None if not.

    GitHub's rules ("Rate limits for the REST API", docs.github.com): with `retry-after`, wait
    that many seconds; with `x-ratelimit-remaining: 0`, until `x-ratelimit-reset`; otherwise a
    secondary limit (a 429, or a 403 whose `message` says "secondary rate limit") means waiting
    at least a minute. A 403 that is neither is a refusal (a permission), not a limit.
    """
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after", "")
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(now, datetime.fromtimestamp(int(reset), UTC))
    if status == 429 or SECONDARY in message.lower():
        return now + timedelta(minutes=1)
    return None


def count_answer(
    metrics: Metrics, installation: str, status: int, headers: Mapping[str, str]
) -> None:
    """Count an answer by status and keep the rate limit it reports (each installation, and the
    App itself, has its own)."""
    metrics.github_requests.inc(status=str(status))
    remaining = headers.get("x-ratelimit-remaining", "")
    if remaining.isdigit():
        resource = headers.get("x-ratelimit-resource", "core")
        metrics.github_rate_limit_remaining.set(
            int(remaining), installation=installation, resource=resource
        )


class Shared(Protocol):
    """One request at a time per installation across processes (app/store/leases.py)."""

    def hold(
        self, installation_id: int | None, *, write: bool
    ) -> AbstractAsyncContextManager[None]: ...


class Throttle:
    """One request at a time, writes a second apart: in this process, and with `shared` (an
    installation's lease) across every process."""

    def __init__(
        self,
        *,
        concurrency: int = 1,
        write_interval: float = 1.0,
        shared: Callable[[bool], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._write = asyncio.Lock()
        self._write_interval = write_interval
        self._last_write = float("-inf")
        self._shared = shared

    @asynccontextmanager
    async def slot(self, method: str) -> AsyncIterator[None]:
        async with self._slots:
            if method not in WRITES:
                async with self._across(write=False):
                    yield
                return
            async with self._write:
                wait = self._last_write + self._write_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    async with self._across(write=True):
                        yield
                finally:
                    self._last_write = time.monotonic()

    def _across(self, *, write: bool) -> AbstractAsyncContextManager[None]:
        return self._shared(write) if self._shared is not None else nullcontext()


class GitHubAPI(gidgethub.httpx.GitHubAPI):
    """gidgethub's httpx client with throttling, bounded retries and rate limits as RateLimited."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        throttle: Throttle,
        metrics: Metrics,
        installation: str = "app",
        oauth_token: str | None = None,
        app_jwt: Callable[[], str] | None = None,
        retry_seconds: float = 0.5,
        on_moved: Moved | None = None,
        fresh_until: float | None = None,
    ) -> None:
        # gidgethub types its client as httpx2's AsyncClient when httpx2 is installed (the
        # anthropic SDK brings it); it only calls `client.request(...)`, which httpx's has too.
        super().__init__(client, REQUESTER, oauth_token=oauth_token, base_url=base_url)  # type: ignore[arg-type]
        self._throttle = throttle
        self._metrics = metrics
        self._installation = installation
        self._app_jwt_source = app_jwt
        self._retry_seconds = retry_seconds
        self._on_moved = on_moved
        # time.monotonic() until which a 401 may be the token's newness (FRESH_TOKEN).
        self._fresh_until = fresh_until

    def _get_app_jwt(self) -> str | None:
        return self._app_jwt_source() if self._app_jwt_source else None

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        status, answer_headers, answer = await self._send(method, url, headers, body)
        location = answer_headers.get("location")
        if status not in REDIRECTS or not location:
            return status, answer_headers, answer
        # Once: a second redirect is answered as it came (gidgethub raises it).
        log.info("GitHub %s %s moved to %s", method, url, location)
        # Without the body's headers, for the reads: a GET carries none.
        bare = {k: v for k, v in headers.items() if k.lower() not in BODY_HEADERS}
        if status in (307, 308):
            followed = await self._send(method, location, headers, body)
        else:
            followed = await self._send("GET", location, bare)
        moved = BY_ID.search(location)
        if moved is not None and followed[0] < 300 and self._on_moved is not None:
            repository = location[: moved.end()].rstrip("/")
            if location.partition("?")[0].rstrip("/") != repository:
                # Not the repository itself that was asked for: ask its name now.
                found = await self._send("GET", repository, bare)
                await self._report_move(int(moved[1]), found)
            else:
                await self._report_move(int(moved[1]), followed)
        return followed

    async def _report_move(
        self, github_id: int, answer: tuple[int, Mapping[str, str], bytes]
    ) -> None:
        """Hand GitHub's answer about the moved repository (its repository object, with a
        full_name) to on_moved."""
        assert self._on_moved is not None
        try:
            found = json.loads(answer[2]) if answer[0] < 300 else {}
            full_name = found["full_name"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if isinstance(full_name, str):
            await self._on_moved(github_id, found)

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        async with self._throttle.slot(method):
            for attempt in range(1, TRIES + 1):
                try:
                    status, answer_headers, answer = await super()._request(
                        method, url, headers, body
                    )
                except httpx.TransportError as exc:
                    self._metrics.github_requests.inc(status="error")
                    if attempt == TRIES or (method == "POST" and not isinstance(exc, UNSENT)):
                        raise
                    log.warning("GitHub %s %s: %s, retrying", method, url, type(exc).__name__)
                else:
                    count_answer(self._metrics, self._installation, status, answer_headers)
                    answer = _storable(answer_headers, answer)
                    # A 5xx POST may have been carried out; a 401 never was, whatever the method.
                    again = (status >= 500 and method != "POST") or self._too_new(status)
                    if not again or attempt == TRIES:
                        return status, answer_headers, answer
                    log.warning("GitHub %s %s answered %d, retrying", method, url, status)
                await asyncio.sleep(backoff(attempt, base=self._retry_seconds, cap=5.0))
        raise AssertionError("unreachable")

    def _too_new(self, status: int) -> bool:
        """A 401 to an installation token created under FRESH_TOKEN seconds ago."""
        return (
            status == 401 and self._fresh_until is not None and time.monotonic() < self._fresh_until
        )

    async def job_log(self, repo: str, job_id: int) -> str:
        """A GitHub Actions job's log (GET /repos/{repo}/actions/jobs/{id}/logs). GitHub answers
        with a redirect to a storage URL that carries its own signature and expires within a
        minute, so it is followed at once and without our token. Raises RateLimited, and
        httpx.HTTPStatusError for another error (a log expired: 404 or 410)."""
        headers = {
            "Authorization": f"token {self.oauth_token}",
            "Accept": "application/vnd.github+json",
            "User-Agent": REQUESTER,
        }
        url = f"{self.base_url}{repo_url(repo)}/actions/jobs/{part(job_id)}/logs"
        async with self._throttle.slot("GET"):
            try:
                answer = await self._client.get(url, headers=headers)
            except httpx.TransportError:
                self._metrics.github_requests.inc(status="error")
                raise
            count_answer(self._metrics, self._installation, answer.status_code, answer.headers)
            if answer.status_code in (301, 302, 303, 307):
                answer = await self._client.get(answer.headers["location"])
        at = rate_limit_reset(
            answer.status_code, answer.headers, now=datetime.now(UTC), message=answer.text
        )
        if at is not None:
            raise RateLimited(at, f"GitHub rate limit on the log of job {job_id}")
        answer.raise_for_status()
        # httpx reads bytes that are not UTF-8 as U+FFFD; NUL bytes stay, till storable.
        return storable(answer.text)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        headers = {k.lower(): v for k, v in (exception.headers or {}).items()}
        at = rate_limit_reset(
            exception.status_code, headers, now=datetime.now(UTC), message=str(exception)
        )
        if at is not None:
            raise RateLimited(at, f"GitHub rate limit on {method} {url}") from exception
        return False


def _storable(headers: Mapping[str, str], body: bytes) -> bytes:
    """A JSON answer's body as app/text.storable_document makes it; any other as it came."""
    return storable_document(body) if "json" in headers.get("content-type", "") else body


def _held(
    leases: Shared, installation_id: int | None, write: bool
) -> AbstractAsyncContextManager[None]:
    return leases.hold(installation_id, write=write)


@dataclass(frozen=True)
class Identity:
    """Who we are on GitHub: events sent by `bot_login` are our own."""

    app_id: int
    slug: str

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime
    # time.monotonic() when GitHub created it (as near as we know: when it answered).
    created: float = 0.0


class GitHubApp:
    """The App's credentials, its token cache and its per-installation throttles."""

    def __init__(
        self, settings: GitHubSettings, http: httpx.AsyncClient, *, metrics: Metrics | None = None
    ) -> None:
        self._http = http
        self._metrics = metrics or Metrics()
        self._base_url = settings.api_url
        self._retry_seconds = settings.retry_seconds
        self._write_interval = settings.write_interval
        self._issuer = settings.client_id or settings.app_id or ""
        self._private_key = settings.private_key_pem()
        self._jwt: tuple[str, float] | None = None
        self._tokens: dict[int, Token] = {}
        self._pending: dict[int, asyncio.Task[Token]] = {}
        self._throttles: dict[int | None, Throttle] = {}
        self.identity: Identity | None = None
        # Told of each repository GitHub says was renamed or transferred (app/context.py
        # stores the new name).
        self.on_moved: Moved | None = None
        # Set by app/context.py: requests one at a time per installation across processes.
        self.leases: Shared | None = None
        self._identified = asyncio.Event()

    def jwt(self) -> str:
        # Reused for a few minutes: signing RS256 costs about a millisecond.
        now = time.time()
        if self._jwt is None or now > self._jwt[1]:
            self._jwt = (app_jwt(self._private_key, self._issuer, now=now), now + 300)
        return self._jwt[0]

    def app_api(self) -> GitHubAPI:
        """Authenticated as the App itself (JWT): /app, hook deliveries, tokens."""
        return self._api(None, app_jwt=self.jwt)

    async def installation_api(self, installation_id: int) -> GitHubAPI:
        """Authenticated as one installation, with its token."""
        token = await self._token(installation_id)
        return self._api(
            installation_id, oauth_token=token.value, fresh_until=token.created + FRESH_TOKEN
        )

    def _api(self, installation_id: int | None, **auth: Any) -> GitHubAPI:
        return GitHubAPI(
            self._http,
            base_url=self._base_url,
            throttle=self._throttle(installation_id),
            retry_seconds=self._retry_seconds,
            metrics=self._metrics,
            installation="app" if installation_id is None else str(installation_id),
            on_moved=self.on_moved,
            **auth,
        )

    def _throttle(self, installation_id: int | None) -> Throttle:
        found = self._throttles.get(installation_id)
        if found is None:
            leases = self.leases
            shared = None
            if leases is not None:
                shared = partial(_held, leases, installation_id)
            found = Throttle(write_interval=self._write_interval, shared=shared)
            self._throttles[installation_id] = found
        return found

    async def installation_token(self, installation_id: int) -> str:
        return (await self._token(installation_id)).value

    async def _token(self, installation_id: int) -> Token:
        cached = self._tokens.get(installation_id)
        if cached is not None and datetime.now(UTC) < cached.expires_at - TOKEN_MARGIN:
            return cached
        # Callers arriving while a token is being fetched wait for that one request.
        task = self._pending.get(installation_id)
        if task is None:
            task = asyncio.ensure_future(self._fetch_token(installation_id))
            self._pending[installation_id] = task
            task.add_done_callback(lambda _t: self._pending.pop(installation_id, None))
        return await asyncio.shield(task)

    async def _fetch_token(self, installation_id: int) -> Token:
        answer = await self.app_api().post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": installation_id},
            data=b"",
        )
        expires = datetime.fromisoformat(answer["expires_at"])
        token = Token(answer["token"], expires, created=time.monotonic())
        self._tokens[installation_id] = token
        log.info(
            "installation token for %d, valid until %s",
            installation_id,
            expires.isoformat(timespec="seconds"),
            extra={"action": "github_token"},
        )
        return token

    async def load_identity(self) -> Identity:
        """GET /app: our slug, hence our bot's login, so handlers can skip our own events."""
        answer = await self.app_api().getitem("/app")
        self.identity = Identity(app_id=int(answer["id"]), slug=str(answer["slug"]))
        self._identified.set()
        return self.identity

    async def identified(self) -> Identity:
        """The App's identity, once GET /app has answered (app/context.py keeps asking)."""
        await self._identified.wait()
        assert self.identity is not None
        return self.identity

    async def introduce(self) -> float | None:
        """Ask GET /app once; None when it answered, else the seconds to wait before asking
        again: until the reset GitHub names for a rate limit, a minute after another failure."""
        try:
            identity = await self.load_identity()
        except RateLimited as exc:
            wait = max((exc.until - datetime.now(UTC)).total_seconds(), 1.0)
            log.warning("GET /app rate limited: own events cannot be recognised for %.0f s", wait)
            return wait
        except (GitHubException, httpx.HTTPError) as exc:
            log.warning("GET /app failed (%s): own events cannot be recognised yet", exc)
            return IDENTITY_RETRY
        log.info(
            "GitHub App %s (id %d), bot %s", identity.slug, identity.app_id, identity.bot_login
        )
        return None

    async def keep_introducing(self, wait: float) -> Identity:
        """Ask GET /app after `wait` seconds, and again after each failure until it answers."""
        while True:
            await asyncio.sleep(wait)
            again = await self.introduce()
            if again is None:
                return await self.identified()
            wait = again


def is_own_event(payload: Mapping[str, Any], identity: Identity | None) -> bool:
    """Whether our own App caused this event (reacting to it could loop)."""
    if identity is None:
        return False
    sender = payload.get("sender") or {}
    if sender.get("login") == identity.bot_login:
        return True
    app = (payload.get("check_run") or payload.get("check_suite") or {}).get("app") or {}
    return app.get("id") == identity.app_id
