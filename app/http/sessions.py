"""The admin session cookie and its CSRF token: HMAC-signed, with no state on the server.

The signing key is derived from HOOKWISE_ADMIN_TOKEN, so every web machine accepts the sessions
of every other, a restart keeps them, and changing the token ends them all. The cookie holds a
random session id, when it was issued, and their HMAC: never the token. The CSRF token is an
HMAC of the session id, so it is only good with the cookie it was issued for.

No I/O and no Starlette here: pure functions of the key, the strings offered and `now`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "hookwise_admin"
# An operator's working day; after that the token is asked for again.
LIFETIME = 12 * 3600.0
# Machines' clocks differ a little: a cookie issued "in the future" by this much still counts.
CLOCK_SKEW = 60.0


def _mac(key: bytes, purpose: str, message: str) -> str:
    # The purpose keeps a CSRF token from ever passing as a cookie's signature and back.
    digest = hmac.new(key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Sessions:
    key: bytes = field(repr=False)
    # SHA-256 of the token: comparing digests takes the same time whatever the offered length.
    token_digest: bytes = field(repr=False)
    lifetime: float = LIFETIME

    @classmethod
    def for_token(cls, token: str, *, lifetime: float = LIFETIME) -> Sessions:
        key = hmac.new(token.encode(), b"hookwise admin sessions v1", hashlib.sha256).digest()
        return cls(key=key, token_digest=hashlib.sha256(token.encode()).digest(), lifetime=lifetime)

    def token_matches(self, offered: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(offered.encode()).digest(), self.token_digest)

    def issue(self, *, now: float) -> str:
        """A new cookie value: session id, issue time, signature."""
        payload = f"{secrets.token_urlsafe(24)}.{int(now)}"
        return f"{payload}.{_mac(self.key, 'session', payload)}"

    def session_id(self, cookie: str | None, *, now: float) -> str | None:
        """The cookie's session id, or None when it is missing, forged or expired."""
        parts = (cookie or "").split(".")
        if len(parts) != 3:
            return None
        session, issued, signature = parts
        expected = _mac(self.key, "session", f"{session}.{issued}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        if not issued.isdigit() or not now - self.lifetime <= int(issued) <= now + CLOCK_SKEW:
            return None
        return session

    def csrf_token(self, session_id: str) -> str:
        return _mac(self.key, "csrf", session_id)

    def csrf_matches(self, session_id: str, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self.csrf_token(session_id).encode())
