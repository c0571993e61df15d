"""The Linear API key at rest: stored encrypted, read back, and `hookwise rotate-key` moving
it to a new key (as a real process against the test database)."""

from __future__ import annotations

import asyncio
import base64
import logging

import asyncpg
import pytest
from pydantic import SecretStr

from app import credentials
from app.context import open_context
from app.crypto import KeyRing, UnknownKey, key_id, key_id_of
from app.settings import Settings
from tests.processes import environment, hookwise

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
API_KEY = "lin_api_0123456789abcdefSECRET"


def keyed(settings: Settings, keys: str | None, api_key: str | None = None) -> Settings:
    """`settings` with these encryption keys (comma-separated) and Linear API key."""
    return settings.with_env(
        HOOKWISE_ENCRYPTION_KEY=tuple(SecretStr(k) for k in (keys or "").split(",") if k),
        LINEAR_API_KEY=None if api_key is None else SecretStr(api_key),
    )


async def linear_api_key(db: asyncpg.Connection, settings: Settings) -> str | None:
    """The key open_context would use with `settings`."""
    ring = credentials.key_ring(settings.database)
    return await credentials.linear_api_key(db, settings.linear.api_key, ring)


async def stored(db: asyncpg.Connection) -> bytes:
    return bytes(
        await db.fetchval("SELECT credentials_encrypted FROM integrations WHERE name = 'linear'")
    )


async def rotate_key(dsn: str, keys: str) -> tuple[int, str, str]:
    env = environment(DATABASE_URL=dsn, HOOKWISE_ENCRYPTION_KEY=keys)
    done = await asyncio.to_thread(hookwise, "rotate-key", env=env)
    return done.returncode, done.stdout, done.stderr


async def test_rotation_keeps_the_key_readable(settings, dsn, db) -> None:
    # Given with key A: stored encrypted, never in the clear.
    assert await linear_api_key(db, keyed(settings, KEY_A, API_KEY)) == API_KEY
    sealed = await stored(db)
    assert API_KEY.encode() not in sealed
    assert key_id_of(sealed) == key_id(b"a" * 32)
    # Once stored, the setting may go: the stored key is read back.
    assert await linear_api_key(db, keyed(settings, KEY_A)) == API_KEY

    # Key B alone cannot read what A sealed.
    with pytest.raises(UnknownKey):
        await linear_api_key(db, keyed(settings, KEY_B))

    # B first, A still there: rotate-key re-encrypts with B.
    code, out, err = await rotate_key(dsn, f"{KEY_B},{KEY_A}")
    assert code == 0, err
    assert "linear: re-encrypted" in out
    assert f"with key id {key_id(b'b' * 32).hex()}" in out
    assert key_id_of(await stored(db)) == key_id(b"b" * 32)

    # Now B alone reads it, and a second rotation has nothing to do.
    assert await linear_api_key(db, keyed(settings, KEY_B)) == API_KEY
    code, out, _ = await rotate_key(dsn, KEY_B)
    assert (code, "linear: already current" in out) == (0, True)
    for text in (out, err):
        assert API_KEY not in text
        assert KEY_A not in text and KEY_B not in text


async def test_rotation_without_the_old_key_changes_nothing(settings, dsn, db) -> None:
    await linear_api_key(db, keyed(settings, KEY_A, API_KEY))
    before = await stored(db)
    code, _, err = await rotate_key(dsn, KEY_B)
    assert code == 2
    assert "which is not in HOOKWISE_ENCRYPTION_KEY; nothing was changed" in err
    assert await stored(db) == before

    env = environment(DATABASE_URL=dsn)
    done = await asyncio.to_thread(hookwise, "rotate-key", env=env)
    assert done.returncode == 2
    assert "rotate-key needs HOOKWISE_ENCRYPTION_KEY" in done.stderr


async def test_a_new_setting_replaces_the_stored_key(settings, db) -> None:
    await linear_api_key(db, keyed(settings, KEY_A, API_KEY))
    assert await linear_api_key(db, keyed(settings, KEY_A, "lin_api_new")) == "lin_api_new"
    assert await linear_api_key(db, keyed(settings, KEY_A)) == "lin_api_new"
    ring = KeyRing.from_config([KEY_A])
    assert credentials.unseal(ring, "linear", await stored(db)) == {"api_key": "lin_api_new"}


async def test_the_context_uses_the_stored_key_and_runs_without_one_it_cannot_read(
    settings, dsn, db, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_context(keyed(settings, KEY_A, API_KEY), dsn) as ctx:
        assert ctx.linear is not None
    async with open_context(keyed(settings, KEY_A), dsn) as ctx:
        assert ctx.linear is not None
        assert API_KEY not in repr(ctx)
    async with open_context(keyed(settings, KEY_B), dsn) as ctx:
        assert ctx.linear is None
    assert "Linear is off" in caplog.text
    # Without encryption keys, the key is used as given and not stored.
    await db.execute("UPDATE integrations SET credentials_encrypted = NULL")
    async with open_context(keyed(settings, None, API_KEY), dsn) as ctx:
        assert ctx.linear is not None
    assert (
        await db.fetchval("SELECT credentials_encrypted FROM integrations WHERE name = 'linear'")
        is None
    )
    for secret in (API_KEY, KEY_A, KEY_B):
        assert secret not in caplog.text
