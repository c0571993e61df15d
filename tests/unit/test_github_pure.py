"""The GitHub App's sans-I/O pieces: JWT claims, rate-limit arithmetic, own events, grouping."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.clients.github import Identity, app_jwt, is_own_event, rate_limit_reset
from app.redeliver import undelivered
from app.settings import GitHubSettings, Settings
from app.setup import env_values, manifest, write_env

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_app_jwt_claims() -> None:
    token = app_jwt(PEM, "Iv1.abc", now=1_700_000_000.7)
    claims = jwt.decode(
        token, KEY.public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 - 60 + 540, "iss": "Iv1.abc"}
    assert claims["exp"] - claims["iat"] < 600
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_issuer_is_the_client_id_when_set() -> None:
    both = GitHubSettings(app_id="42", client_id="Iv1.x", private_key=PEM)
    assert (both.client_id or both.app_id) == "Iv1.x"


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (403, {"retry-after": "30"}, NOW + timedelta(seconds=30)),
        (429, {"retry-after": "5"}, NOW + timedelta(seconds=5)),
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 600)},
            NOW + timedelta(seconds=600),
        ),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, NOW),
        (429, {}, NOW + timedelta(minutes=1)),
        (403, {"x-ratelimit-remaining": "12"}, None),  # a permission problem, not a limit
        (404, {"retry-after": "30"}, None),
        (502, {}, None),
    ],
)
def test_rate_limit_reset(status: int, headers: dict[str, str], expected: datetime | None) -> None:
    assert rate_limit_reset(status, headers, now=NOW) == expected


def test_a_403_that_says_secondary_rate_limit_waits_a_minute_without_retry_after() -> None:
    message = "You have exceeded a secondary rate limit. Please wait a few minutes."
    assert rate_limit_reset(403, {}, now=NOW, message=message) == NOW + timedelta(minutes=1)
    # Retry-After, when GitHub sends it, still decides.
    waited = rate_limit_reset(403, {"retry-after": "300"}, now=NOW, message=message)
    assert waited == NOW + timedelta(seconds=300)
    assert rate_limit_reset(403, {}, now=NOW, message="Resource not accessible") is None


def test_own_events() -> None:
    me = Identity(app_id=7, slug="hookwise")
    assert is_own_event({"sender": {"login": "hookwise[bot]"}}, me)
    assert is_own_event({"check_run": {"app": {"id": 7}}, "sender": {"login": "octocat"}}, me)
    assert not is_own_event({"sender": {"login": "octocat"}}, me)
    assert not is_own_event({"check_run": {"app": {"id": 8}}}, me)
    assert not is_own_event({"sender": {"login": "hookwise[bot]"}}, None)


def summary(id_: int, guid: str, minutes: int, status: int) -> dict[str, object]:
    return {
        "id": id_,
        "guid": guid,
        "delivered_at": (NOW + timedelta(minutes=minutes)).isoformat(),
        "status_code": status,
        "status": "OK" if status == 202 else "Invalid HTTP Response: 503",
        "event": "pull_request",
        "action": "opened",
    }


def test_undelivered_groups_attempts_by_guid() -> None:
    found = undelivered(
        [
            summary(5, "b", 9, 503),  # b: failed twice, newest attempt is id 5
            summary(4, "c", 8, 202),  # c: redelivered fine
            summary(3, "b", 7, 0),
            summary(2, "c", 6, 503),
            summary(1, "a", 5, 503),  # a: failed once
        ]
    )
    assert [(c.guid, c.delivery_id, c.first_failure) for c in found] == [
        ("a", 1, NOW + timedelta(minutes=5)),
        ("b", 5, NOW + timedelta(minutes=7)),
    ]


def test_manifest_asks_for_what_hookwise_needs() -> None:
    wanted = manifest(
        name="hookwise", public_url="https://hooks.example.com/", redirect_url="http://x/cb"
    )
    assert wanted["hook_attributes"] == {
        "url": "https://hooks.example.com/webhooks/github",
        "active": True,
    }
    assert wanted["default_permissions"]["checks"] == "write"
    assert {"pull_request", "check_run"} <= set(wanted["default_events"])


def test_write_env_keeps_other_lines_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("DATABASE_URL=postgresql://db/x\nGITHUB_APP_ID=1\n")
    app = {
        "id": 99,
        "client_id": "Iv1.c",
        "client_secret": "shh",
        "webhook_secret": 'we"ird',
        "pem": PEM,
    }
    write_env(path, env_values(app))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("DATABASE_URL=postgresql://db/x\n")
    assert text.count("GITHUB_APP_ID=") == 1
    loaded = Settings.load(path)
    assert loaded.github.app_id == "99"
    assert loaded.github.private_key_pem() == PEM
    assert loaded.webhooks.secrets_for("github") == (b'we"ird',)


def test_key_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required"
    ):
        GitHubSettings(app_id="1")
    with pytest.raises(ValueError, match="not a PEM private key"):
        GitHubSettings(app_id="1", private_key="nope")
    with pytest.raises(ValueError, match="cannot read"):
        GitHubSettings(app_id="1", private_key_path=tmp_path / "missing.pem")
    one_line = PEM.replace("\n", "\\n")
    assert GitHubSettings(app_id="1", private_key=one_line).private_key_pem() == PEM
