"""The fake GitHub itself: App JWTs, installation tokens, hook deliveries, failures, manifests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub import RateLimitExceeded, apps, sansio
from gidgethub.httpx import GitHubAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.deliveries import parse_github
from tests.conftest import GITHUB_SECRET
from tests.fakes.github import FakeGitHub
from tests.fixtures import github_example
from tests.harness import serving

PAYLOAD = {**github_example("pull_request", "opened"), "installation": {"id": 7}}


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        yield fake


@pytest.fixture
async def client(github: FakeGitHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=github.url, timeout=10) as client:
        yield client


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback port that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/github"
    sock.close()


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def receiver(*statuses: int) -> AsyncIterator[Receiver]:
    """A webhook receiver on uvicorn that answers `statuses` in turn, then 202."""
    replies = list(statuses)
    hook = Receiver(url="")

    async def receive(request: Request) -> Response:
        hook.received.append((dict(request.headers), await request.body()))
        status = replies.pop(0) if replies else 202
        return JSONResponse({"stored": status < 300}, status_code=status)

    app = Starlette(routes=[Route("/webhooks/github", receive, methods=["POST"])])
    async with serving(app) as url:
        hook.url = f"{url}/webhooks/github"
        yield hook


def app_jwt(github: FakeGitHub, *, key: Any = None, **claims: Any) -> dict[str, str]:
    """An Authorization header with an App JWT as GitHub advises: iat a minute ago, 10 min life."""
    iat = int(time.time()) - 60
    payload = {"iat": iat, "exp": iat + 600, "iss": str(github.app_id), **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    token = jwt.encode(payload, key or github.private_key_pem, algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


async def issue_token(github: FakeGitHub, client: httpx.AsyncClient, installation_id: int) -> str:
    response = await client.post(
        f"/app/installations/{installation_id}/access_tokens", headers=app_jwt(github)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def verify(headers: dict[str, str], body: bytes, secret: str = GITHUB_SECRET) -> None:
    parse_github(headers, body, secrets=[secret.encode()], now=time.time())
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    assert headers["x-hub-signature"] == f"sha1={sha1}"


# App JWTs


async def test_a_valid_jwt_gets_the_app(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    for issuer in (str(github.app_id), github.client_id):
        response = await client.get("/app", headers=app_jwt(github, iss=issuer))
        assert response.status_code == 200, response.text
        app = response.json()
        assert (app["id"], app["slug"], app["client_id"]) == (
            4242,
            "hookwise-test",
            github.client_id,
        )
        assert app["name"] == "Hookwise Test"
        assert app["owner"]["login"] == "octo-org"
        assert app["html_url"] == f"{github.url}/apps/hookwise-test"
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-ratelimit-limit"] == "5000"
    assert response.headers["x-ratelimit-used"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "4998"
    assert int(response.headers["x-ratelimit-reset"]) > time.time()
    assert response.headers["x-ratelimit-resource"] == "core"
    assert re.fullmatch(r"[0-9A-F:]+", response.headers["x-github-request-id"])


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        pytest.param(
            lambda now: {"iat": now - 60, "exp": now + 600},
            "'Expiration time' claim ('exp') is too far in the future",
            id="lives-11-minutes",
        ),
        pytest.param(
            lambda now: {"iat": now, "exp": now + 660},
            "'Expiration time' claim ('exp') is too far in the future",
            id="exp-too-far",
        ),
        pytest.param(
            lambda now: {"iat": now - 600, "exp": now - 10},
            "'Expiration time' claim ('exp') must be a numeric value representing the future"
            " time at which the assertion expires",
            id="expired",
        ),
        pytest.param(
            lambda now: {"iat": now + 120, "exp": now + 300},
            "'Issued at' claim ('iat') must be an Integer representing the time that the"
            " assertion was issued",
            id="iat-ahead-of-the-skew",
        ),
        pytest.param(
            lambda now: {"iat": now - 30.5, "exp": now + 500},
            "'Issued at' claim ('iat') must be an Integer representing the time that the"
            " assertion was issued",
            id="iat-not-an-integer",
        ),
        pytest.param(
            lambda now: {"iss": "4243"}, "A JSON web token could not be decoded", id="other-app"
        ),
        pytest.param(
            lambda now: {"iss": None}, "Missing 'issuer' claim ('iss') in assertion", id="no-iss"
        ),
    ],
)
async def test_jwt_claims_are_checked_like_github(
    github: FakeGitHub, client: httpx.AsyncClient, claims: Any, message: str
) -> None:
    response = await client.get("/app", headers=app_jwt(github, **claims(int(time.time()))))
    assert response.status_code == 401
    assert response.json() == {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }


async def test_iat_within_a_minute_ahead_is_tolerated(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    response = await client.get("/app", headers=app_jwt(github, iat=now + 30, exp=now + 300))
    assert response.status_code == 200, response.text


async def test_jwts_not_signed_by_the_app_key_are_refused(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hs256 = jwt.encode({"iss": "4242"}, "secret-but-symmetric-key-of-32-bytes", algorithm="HS256")
    for headers in (
        app_jwt(github, key=other_key),
        {"Authorization": f"Bearer {hs256}"},
        {"Authorization": "Bearer not-a-jwt"},
        {},
    ):
        response = await client.get("/app", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "A JSON web token could not be decoded"


# Installation tokens


async def test_installation_tokens_are_issued_checked_and_expire(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    issued_at = datetime.now(UTC).replace(microsecond=0)
    response = await client.post("/app/installations/7/access_tokens", headers=app_jwt(github))
    assert response.status_code == 201
    body = response.json()
    token = body["token"]
    assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", token)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expires_at"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    lifetime = expires_at - issued_at
    assert timedelta(seconds=3600) <= lifetime <= timedelta(seconds=3602)
    assert body["repository_selection"] == "all"
    assert body["permissions"]["checks"] == "write"
    assert github.tokens[token] == (7, expires_at)

    for scheme in ("token", "Bearer"):
        response = await client.get(
            "/installation/repositories", headers={"Authorization": f"{scheme} {token}"}
        )
        assert response.status_code == 200, response.text

    github.tokens[token] = (7, datetime.now(UTC) - timedelta(seconds=1))
    for headers in (
        {"Authorization": f"token {token}"},
        {"Authorization": "token ghs_unknown"},
        app_jwt(github),
        {},
    ):
        response = await client.get("/installation/repositories", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "Bad credentials"


async def test_tokens_for_unknown_installations_or_without_a_jwt_are_refused(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    response = await client.post("/app/installations/8/access_tokens", headers=app_jwt(github))
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    token = await issue_token(github, client, 7)
    response = await client.post(
        "/app/installations/7/access_tokens", headers={"Authorization": f"token {token}"}
    )
    assert response.status_code == 401


async def test_token_ttl_sets_the_tokens_life() -> None:
    async with (
        FakeGitHub(token_ttl=0) as github,
        httpx.AsyncClient(base_url=github.url) as client,
    ):
        github.add_installation(7)
        token = await issue_token(github, client, 7)
        response = await client.get(
            "/installation/repositories", headers={"Authorization": f"token {token}"}
        )
        assert response.status_code == 401


# Webhook deliveries


async def test_deliver_sends_a_webhook_as_github_does(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    async with receiver() as hook:
        github.hook_url = hook.url
        delivery = await github.deliver("pull_request", PAYLOAD)

    [(headers, body)] = hook.received
    assert body == json.dumps(PAYLOAD).encode()
    verify(headers, body)
    parsed = parse_github(headers, body, secrets=[GITHUB_SECRET.encode()], now=time.time())
    assert (parsed.delivery_id, parsed.event_type, parsed.action) == (
        delivery.guid,
        "pull_request",
        "opened",
    )
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("GitHub-Hookshot/")
    assert headers["x-github-hook-id"] == "9000001"
    assert headers["x-github-hook-installation-target-type"] == "integration"
    assert headers["x-github-hook-installation-target-id"] == "4242"

    assert (delivery.status_code, delivery.status, delivery.redelivery) == (202, "OK", False)
    assert (delivery.event, delivery.action) == ("pull_request", "opened")
    assert (delivery.installation_id, delivery.repository_id) == (7, PAYLOAD["repository"]["id"])
    assert github.deliveries == [delivery]

    response = await client.get(f"/app/hook/deliveries/{delivery.id}", headers=app_jwt(github))
    assert response.status_code == 200
    detail = response.json()
    assert detail["guid"] == delivery.guid
    assert detail["url"] == hook.url
    assert detail["request"]["headers"]["X-GitHub-Delivery"] == delivery.guid
    assert detail["request"]["payload"] == PAYLOAD
    assert json.loads(detail["response"]["payload"]) == {"stored": True}
    assert detail["throttled_at"] is None
    missing = await client.get(f"/app/hook/deliveries/{delivery.id + 1}", headers=app_jwt(github))
    assert missing.status_code == 404


async def test_deliver_records_the_receivers_error_status(github: FakeGitHub) -> None:
    async with receiver(503) as hook:
        github.hook_url = hook.url
        failed = await github.deliver("ping", {"zen": "Keep it logically awesome."})
        passed = await github.deliver("ping", {"zen": "Keep it logically awesome."}, guid="g-2")
    assert (failed.status_code, failed.status) == (503, "Invalid HTTP Response: 503")
    assert (passed.status_code, passed.status, passed.guid) == (202, "OK", "g-2")
    assert (failed.installation_id, failed.repository_id, failed.action) == (None, None, None)
    assert passed.id > failed.id


async def test_deliver_to_a_closed_port_records_status_code_0(
    github: FakeGitHub, client: httpx.AsyncClient, closed_url: str
) -> None:
    github.hook_url = closed_url
    delivery = await github.deliver("pull_request", PAYLOAD, action="closed")
    assert (delivery.status_code, delivery.status) == (0, "failed to connect to host")
    assert delivery.action == "closed"
    response = await client.get("/app/hook/deliveries", headers=app_jwt(github))
    [summary] = response.json()
    assert summary["status_code"] == 0
    assert summary["action"] == "closed"
    assert summary["delivered_at"].endswith("Z")


async def test_deliveries_page_newest_first_with_a_cursor(
    github: FakeGitHub, client: httpx.AsyncClient, closed_url: str
) -> None:
    github.hook_url = closed_url
    for n in range(250):
        await github.deliver("ping", {"zen": "Design for failure.", "hook_id": n})

    ids: list[int] = []
    sizes: list[int] = []
    url: str | None = "/app/hook/deliveries?per_page=100"
    while url is not None:
        response = await client.get(url, headers=app_jwt(github))
        assert response.status_code == 200, response.text
        ids += [delivery["id"] for delivery in response.json()]
        sizes.append(len(response.json()))
        url = response.links.get("next", {}).get("url")
        if url is not None:
            assert url.startswith(f"{github.url}/app/hook/deliveries?per_page=100&cursor=")
    assert sizes == [100, 100, 50]
    assert "link" not in response.headers
    assert ids == sorted((delivery.id for delivery in github.deliveries), reverse=True)

    default = await client.get("/app/hook/deliveries", headers=app_jwt(github))
    assert len(default.json()) == 30
    capped = await client.get("/app/hook/deliveries?per_page=1000", headers=app_jwt(github))
    assert len(capped.json()) == 100
    bad = await client.get("/app/hook/deliveries?cursor=nonsense", headers=app_jwt(github))
    assert bad.status_code == 400


async def test_redelivery_posts_the_same_delivery_again(
    github: FakeGitHub, client: httpx.AsyncClient, closed_url: str
) -> None:
    github.hook_url = closed_url
    failed = await github.deliver("pull_request", PAYLOAD)
    async with receiver() as hook:
        github.hook_url = hook.url
        response = await client.post(
            f"/app/hook/deliveries/{failed.id}/attempts", headers=app_jwt(github)
        )
        assert (response.status_code, response.json()) == (202, {})
        await github.settled()

    [(headers, body)] = hook.received
    assert headers["x-github-delivery"] == failed.guid
    assert body == json.dumps(PAYLOAD).encode()
    verify(headers, body)
    again = github.deliveries[-1]
    assert (again.guid, again.redelivery, again.status_code) == (failed.guid, True, 202)
    assert again.id > failed.id

    listed = await client.get("/app/hook/deliveries", headers=app_jwt(github))
    assert [(d["id"], d["redelivery"]) for d in listed.json()] == [
        (again.id, True),
        (failed.id, False),
    ]
    only = await client.get("/app/hook/deliveries?status=failure", headers=app_jwt(github))
    assert [d["id"] for d in only.json()] == [failed.id]
    unknown = await client.post(
        f"/app/hook/deliveries/{again.id + 1}/attempts", headers=app_jwt(github)
    )
    assert unknown.status_code == 404


# Injected failures


async def test_fail_replaces_the_next_matching_replies(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    github.fail("POST", r"/app/installations/\d+/access_tokens", status=502, times=2)
    github.fail("GET", "/app", status=500, body={"message": "Server Error"})
    statuses = []
    for _ in range(3):
        response = await client.post("/app/installations/7/access_tokens", headers=app_jwt(github))
        statuses.append(response.status_code)
    assert statuses == [502, 502, 201]
    broken = await client.get("/app", headers=app_jwt(github))
    assert (broken.status_code, broken.json()) == (500, {"message": "Server Error"})
    assert "x-ratelimit-remaining" in broken.headers
    assert (await client.get("/app", headers=app_jwt(github))).status_code == 200
    assert [(r.method, r.status) for r in github.requests] == [
        ("POST", 502),
        ("POST", 502),
        ("POST", 201),
        ("GET", 500),
        ("GET", 200),
    ]


async def test_rate_limit_replies_read_as_githubs(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    auth = {"Authorization": f"token {await issue_token(github, client, 7)}"}
    reset = int(time.time()) + 120
    path = "/installation/repositories"
    github.fail("GET", path, status=403, headers={"Retry-After": "30"})
    primary = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    github.fail("GET", path, status=403, headers=primary)
    github.fail("GET", path, status=429, headers={"Retry-After": "5"})

    secondary = await client.get(path, headers=auth)
    assert (secondary.status_code, secondary.headers["retry-after"]) == (403, "30")
    assert secondary.json()["message"].startswith("You have exceeded a secondary rate limit.")
    assert secondary.headers["x-github-request-id"] in secondary.json()["message"]
    assert secondary.headers["x-ratelimit-remaining"] != "0"

    exhausted = await client.get(path, headers=auth)
    assert exhausted.status_code == 403
    assert exhausted.json()["message"] == "API rate limit exceeded for installation ID 7."
    assert exhausted.headers["x-ratelimit-remaining"] == "0"
    assert exhausted.headers["x-ratelimit-reset"] == str(reset)
    with pytest.raises(RateLimitExceeded):
        sansio.decipher_response(403, exhausted.headers, exhausted.content)

    too_many = await client.get(path, headers=auth)
    assert (too_many.status_code, too_many.headers["retry-after"]) == (429, "5")
    assert "secondary rate limit" in too_many.json()["message"]
    assert (await client.get(path, headers=auth)).status_code == 200


async def test_a_hung_reply_times_the_client_out(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.fail("GET", "/app", status=0)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/app", headers=app_jwt(github), timeout=0.2)
    assert (await client.get("/app", headers=app_jwt(github))).status_code == 200
    assert [r.status for r in github.requests] == [0, 200]


async def test_a_failure_after_the_work_keeps_the_work(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    github.fail("POST", r"/app/installations/\d+/access_tokens", status=0, after=True)
    github.fail("POST", r"/app/installations/\d+/access_tokens", status=502, after=True)
    path = "/app/installations/7/access_tokens"
    with pytest.raises(httpx.ReadTimeout):
        await client.post(path, headers=app_jwt(github), timeout=0.2)
    proxied = await client.post(path, headers=app_jwt(github))
    assert proxied.status_code == 502
    # Both tokens were issued all the same: GitHub did the work, the answers were lost.
    assert len(github.tokens) == 2
    assert [r.status for r in github.requests] == [0, 502]


async def test_a_held_request_is_carried_out_on_release(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(7)
    tokens = r"/app/installations/\d+/access_tokens"
    github.hold("POST", tokens)
    waiting = asyncio.create_task(
        client.post("/app/installations/7/access_tokens", headers=app_jwt(github))
    )
    await github.requested("POST", tokens)
    # Recorded, not carried out: no token issued while it is held.
    assert (await client.get("/app", headers=app_jwt(github))).status_code == 200
    assert not github.tokens and not waiting.done()
    github.release()
    assert (await asyncio.wait_for(waiting, 10)).status_code == 201
    assert len(github.tokens) == 1


async def test_a_hung_reply_ends_when_the_fake_stops() -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        async with FakeGitHub() as github:
            github.fail("GET", "/app", status=0)
            waiting = asyncio.create_task(client.get(f"{github.url}/app"))
            await github.requested("GET", "/app")
        response = await waiting
    assert response.status_code == 503


# The manifest flow


async def test_manifest_flow_creates_the_app_once(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    manifest = {
        "name": "Hookwise Acme",
        "url": "https://hookwise.example",
        "hook_attributes": {"url": "https://hookwise.example/webhooks/github"},
        "redirect_url": "http://127.0.0.1:8765/callback",
        "public": False,
        "default_permissions": {"checks": "write", "pull_requests": "write"},
        "default_events": ["pull_request"],
    }
    page = await client.post(
        "/organizations/acme/settings/apps/new?state=abc123",
        data={"manifest": json.dumps(manifest)},
    )
    assert page.status_code == 302
    location = httpx.URL(page.headers["location"])
    assert str(location.copy_with(query=None)) == "http://127.0.0.1:8765/callback"
    assert location.params["state"] == "abc123"
    code = location.params["code"]
    assert github.manifests == [manifest]

    response = await client.post(f"/app-manifests/{code}/conversions")
    assert response.status_code == 201, response.text
    app = response.json()
    assert (app["id"], app["slug"], app["name"]) == (4242, "hookwise-acme", "Hookwise Acme")
    assert app["owner"]["login"] == "acme"
    assert app["html_url"] == f"{github.url}/apps/hookwise-acme"
    assert app["permissions"] == manifest["default_permissions"]
    assert app["pem"] == github.private_key_pem
    assert app["webhook_secret"] == github.webhook_secret != GITHUB_SECRET
    assert app["client_secret"] and app["client_id"] == github.client_id
    assert github.hook_url == "https://hookwise.example/webhooks/github"

    signed = jwt.encode(
        {"iat": int(time.time()) - 60, "exp": int(time.time()) + 500, "iss": str(app["id"])},
        app["pem"],
        algorithm="RS256",
    )
    me = await client.get("/app", headers={"Authorization": f"Bearer {signed}"})
    assert me.json()["slug"] == "hookwise-acme"

    again = await client.post(f"/app-manifests/{code}/conversions")
    assert again.status_code == 404


async def test_manifest_page_for_a_user_and_a_bad_manifest(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    manifest = {
        "url": "https://hookwise.example",
        "hook_attributes": {"url": "https://hookwise.example/webhooks/github"},
        "redirect_url": "https://hookwise.example/setup?step=2",
    }
    page = await client.post(
        "/settings/apps/new", data={"manifest": json.dumps(manifest), "state": "xyz"}
    )
    assert page.status_code == 302
    location = httpx.URL(page.headers["location"])
    assert (location.params["step"], location.params["state"]) == ("2", "xyz")
    app = (await client.post(f"/app-manifests/{location.params['code']}/conversions")).json()
    assert app["owner"]["type"] == "User"

    bad = await client.post("/settings/apps/new", data={"manifest": json.dumps({"url": "x"})})
    assert bad.status_code == 422
    assert "hook_attributes.url" in bad.json()["message"]
    assert "redirect_url" in bad.json()["message"]


# The rest of the wire


async def test_unknown_paths_and_methods_get_githubs_404(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/app"), ("GET", "/app/installations/x")):
        response = await client.request(method, path)
        assert response.status_code == 404
        assert response.json() == {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        }
        assert "x-github-request-id" in response.headers
        assert "x-ratelimit-limit" in response.headers
    # None of them is in GitHub's description: the contract check says so.
    assert github.take_violations() == [
        "GET /nope: no operation GET /nope in @octokit/openapi@23.0.2",
        "DELETE /app: no operation DELETE /app in @octokit/openapi@23.0.2",
        "GET /app/installations/x: apps/get-installation: path parameter installation_id"
        " invalid at $: 'x' is not of type 'integer'",
    ]


async def test_every_request_is_recorded(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    github.add_installation(7)
    await client.post(
        "/app/installations/7/access_tokens?x=1",
        json={"permissions": {"checks": "write"}},
        headers=app_jwt(github),
    )
    [record] = github.requests
    assert (record.method, record.path, record.query) == (
        "POST",
        "/app/installations/7/access_tokens",
        {"x": "1"},
    )
    assert record.headers["authorization"].startswith("Bearer ")
    assert record.json == {"permissions": {"checks": "write"}}
    assert json.loads(record.body) == record.json
    assert record.status == 201
    assert github.take_violations() == [
        "POST /app/installations/7/access_tokens:"
        " apps/create-installation-access-token: no query parameter x"
    ]


async def test_rate_limit_and_installations(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    for installation_id in range(1, 4):
        github.add_installation(
            installation_id, account_login=f"u{installation_id}", account_type="User"
        )
    first = await client.get("/app/installations?per_page=2", headers=app_jwt(github))
    assert [i["id"] for i in first.json()] == [1, 2]
    account = first.json()[0]["account"]
    assert (account["login"], account["type"]) == ("u1", "User")
    second = await client.get(first.links["next"]["url"], headers=app_jwt(github))
    assert [i["id"] for i in second.json()] == [3]
    assert set(second.links) == {"prev", "first"}
    one = await client.get("/app/installations/2", headers=app_jwt(github))
    assert one.json()["access_tokens_url"] == f"{github.url}/app/installations/2/access_tokens"

    rate = (await client.get("/rate_limit")).json()
    assert rate["rate"] == rate["resources"]["core"]
    assert rate["rate"]["used"] == 3
    assert rate["rate"]["limit"] - rate["rate"]["remaining"] == 3


async def test_gidgethub_talks_to_the_fake(
    github: FakeGitHub, client: httpx.AsyncClient, closed_url: str
) -> None:
    github.add_installation(7)
    github.hook_url = closed_url
    for _ in range(5):
        await github.deliver("ping", {"zen": "Approachable is better than simple."})
    gh = GitHubAPI(client, "hookwise-test", base_url=github.url)
    issued = await apps.get_installation_access_token(
        gh, installation_id="7", app_id=str(github.app_id), private_key=github.private_key_pem
    )
    assert github.tokens[issued["token"]][0] == 7
    jwt_token = apps.get_jwt(app_id=github.client_id, private_key=github.private_key_pem)
    assert (await gh.getitem("/app", jwt=jwt_token))["slug"] == "hookwise-test"
    listed = [d async for d in gh.getiter("/app/hook/deliveries?per_page=2", jwt=jwt_token)]
    assert [d["id"] for d in listed] == [d.id for d in reversed(github.deliveries)]
    repos = await gh.getitem("/installation/repositories", oauth_token=issued["token"])
    assert repos["total_count"] == 0


# GitHub's contract (tests/contracts/)


async def test_leaving_the_fake_with_a_broken_contract_fails() -> None:
    with pytest.raises(AssertionError, match="no query parameter bogus"):
        async with FakeGitHub() as github:
            github.add_installation(1)
            async with httpx.AsyncClient(base_url=github.url) as client:
                listed = await client.get("/app/installations?bogus=1", headers=app_jwt(github))
            assert listed.status_code == 200  # GitHub ignores it; the contract does not


async def test_a_reply_off_the_contract_is_caught(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(1)["account"] = {"login": "octo-org"}  # no id, no type...
    await client.get("/app/installations/1", headers=app_jwt(github))
    [broken] = github.take_violations()
    assert broken.startswith("GET /app/installations/1: apps/get-installation: 200 reply invalid")


async def test_a_request_body_off_the_contract_is_caught(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(1)
    body = {"permissions": {"checks": 3}}  # permission levels are strings
    await client.post("/app/installations/1/access_tokens", json=body, headers=app_jwt(github))
    # The fake grants what was asked, so its reply breaks the contract as well.
    assert github.take_violations() == [
        f"POST /app/installations/1/access_tokens: apps/create-installation-access-token: {part}"
        " invalid at $.permissions.checks: 3 is not of type 'string'"
        for part in ("request body", "201 reply")
    ]
