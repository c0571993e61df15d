"""API keys at rest: sealed with the key ring into integrations.credentials_encrypted.

Each integration row holds one sealed JSON object ({"api_key": ...}), bound to its row by the
associated data, so a value copied to another row does not open. An API key given in the
environment is stored (replacing what was stored), and what hookwise uses is the stored one:
once stored, the setting may be removed from the environment.
"""

from __future__ import annotations

import json
import logging

import asyncpg
from pydantic import SecretStr

from app.crypto import CryptoError, KeyRing
from app.settings import DatabaseSettings
from app.store import credentials as store
from app.store.pool import connect

log = logging.getLogger(__name__)

LINEAR = "linear"


def key_ring(settings: DatabaseSettings) -> KeyRing | None:
    """The configured keys, or None when HOOKWISE_ENCRYPTION_KEY is unset."""
    if not settings.encryption_key:
        return None
    return KeyRing.from_config(key.get_secret_value() for key in settings.encryption_key)


def _associated(name: str) -> bytes:
    return f"integrations:{name}".encode()


def seal(ring: KeyRing, name: str, values: dict[str, str]) -> bytes:
    return ring.encrypt(json.dumps(values).encode(), associated=_associated(name))


def unseal(ring: KeyRing, name: str, sealed: bytes) -> dict[str, str]:
    try:
        values = json.loads(ring.decrypt(sealed, associated=_associated(name)))
    except CryptoError as exc:
        raise type(exc)(f"credentials of {name}: {exc}") from None
    if not isinstance(values, dict):
        raise CryptoError(f"credentials of {name}: not an object")
    return values


async def linear_api_key(
    conn: asyncpg.Connection, setting: SecretStr | None, ring: KeyRing | None
) -> str | None:
    """The Linear API key to use: `setting` (LINEAR_API_KEY; stored when `ring`, the key ring,
    is configured), else the stored one. CryptoError when the stored one cannot be read."""
    given = setting.get_secret_value() if setting else None
    if ring is None:
        if given is None and await store.get(conn, LINEAR) is not None:
            log.warning("a Linear API key is stored, but HOOKWISE_ENCRYPTION_KEY is not set")
        return given or None
    sealed = await store.get(conn, LINEAR)
    stored: dict[str, str] = {}
    if sealed is not None:
        try:
            stored = unseal(ring, LINEAR, sealed)
        except CryptoError:
            if not given:
                raise
            # The setting replaces what cannot be read any more.
    if given and (sealed is None or stored.get("api_key") != given or not ring.is_current(sealed)):
        await store.put(conn, LINEAR, seal(ring, LINEAR, {**stored, "api_key": given}))
        log.info("stored the Linear API key encrypted", extra={"action": "credentials_stored"})
        return given
    return stored.get("api_key") or None


async def rotate(conn: asyncpg.Connection, ring: KeyRing) -> list[tuple[str, str]]:
    """Re-encrypt every stored credential with the ring's first key, in one transaction: all or
    none. Returns (integration, what was done) pairs."""
    done = []
    async with conn.transaction():
        for name, sealed in await store.all_for_update(conn):
            if ring.is_current(sealed):
                done.append((name, "already current"))
                continue
            # Through unseal: a value that does not open is an error, not re-encrypted garbage.
            await store.update(conn, name, seal(ring, name, unseal(ring, name, sealed)))
            done.append((name, "re-encrypted"))
    return done


async def rotate_key(settings: DatabaseSettings, dsn: str) -> str:
    """`hookwise rotate-key`: what was re-encrypted, as lines to print."""
    ring = key_ring(settings)
    if ring is None:
        raise CryptoError("HOOKWISE_ENCRYPTION_KEY is not set")
    conn = await connect(dsn)
    try:
        done = await rotate(conn, ring)
    finally:
        await conn.close()
    lines = [f"{name}: {what}" for name, what in done]
    lines.append(
        f"{sum(what == 're-encrypted' for _, what in done)} re-encrypted with key id "
        f"{ring.current_id.hex()}; {len(done)} credential{'s' if len(done) != 1 else ''} in all"
    )
    return "\n".join(lines)
