"""Secrets at rest: AES-256-GCM with a key id in every ciphertext, so keys can rotate.

A ciphertext is `version (1 byte) | key id (4 bytes) | nonce (12 bytes) | sealed text and tag`.
The key id is the first 4 bytes of SHA-256 of the key: it says which key sealed a value without
saying anything about the key. Version and key id are authenticated along with the caller's
associated data (what the value belongs to, e.g. b"integrations:linear"), so a ciphertext copied
to another row or with its header edited does not decrypt.

Several keys may be configured (HOOKWISE_ENCRYPTION_KEY=new,old): the first encrypts, any of
them decrypts. `rotate` re-encrypts what an older key sealed; after that the old key can go.

    CryptoError          a value cannot be sealed or opened; never names a key or a secret
     ├── UnknownKey      sealed with a key that is not configured
     └── Undecryptable   malformed, tampered with, or bound to other associated data
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
KEY_ID_BYTES = 4
NONCE_BYTES = 12
KEY_BYTES = 32
HEADER_BYTES = len(VERSION) + KEY_ID_BYTES
MIN_LENGTH = HEADER_BYTES + NONCE_BYTES + 16  # the GCM tag


class CryptoError(Exception):
    """A value could not be encrypted or decrypted."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or (self.__doc__ or "").strip())


class UnknownKey(CryptoError):
    """The value was encrypted with a key that is not in HOOKWISE_ENCRYPTION_KEY."""


class Undecryptable(CryptoError):
    """The value is malformed, was tampered with, or belongs elsewhere."""


def parse_key(text: str) -> bytes:
    """A key as configured: base64 (standard or URL-safe) of exactly 32 bytes."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except binascii.Error:
        raise ValueError("each key must be base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"each key must be {KEY_BYTES} bytes once base64-decoded")
    return raw


def new_key() -> str:
    """A fresh key, base64-encoded as HOOKWISE_ENCRYPTION_KEY takes it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def key_id_of(ciphertext: bytes) -> bytes:
    """Which key sealed this value (its id), without opening it."""
    if len(ciphertext) < MIN_LENGTH or ciphertext[:1] != VERSION:
        raise Undecryptable("not a hookwise ciphertext")
    return ciphertext[len(VERSION) : HEADER_BYTES]


@dataclass(frozen=True)
class KeyRing:
    """The configured keys, first one current. Its repr shows key ids only."""

    keys: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")
        if any(len(key) != KEY_BYTES for key in self.keys):
            raise ValueError(f"every key must be {KEY_BYTES} bytes")

    @classmethod
    def from_config(cls, texts: Iterable[str]) -> KeyRing:
        return cls(tuple(parse_key(text) for text in texts))

    def __repr__(self) -> str:
        return f"KeyRing(ids={[key_id(key).hex() for key in self.keys]})"

    @property
    def current_id(self) -> bytes:
        return key_id(self.keys[0])

    def encrypt(self, plaintext: bytes, *, associated: bytes = b"") -> bytes:
        header = VERSION + self.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext, header + associated)
        return header + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, associated: bytes = b"") -> bytes:
        wanted = key_id_of(ciphertext)
        header = ciphertext[:HEADER_BYTES]
        nonce = ciphertext[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        sealed = ciphertext[HEADER_BYTES + NONCE_BYTES :]
        candidates = [key for key in self.keys if key_id(key) == wanted]
        if not candidates:
            raise UnknownKey(
                f"encrypted with key id {wanted.hex()}, which is not in HOOKWISE_ENCRYPTION_KEY"
            )
        # Two keys may share a 4-byte id by chance: try each that matches.
        for key in candidates:
            try:
                return AESGCM(key).decrypt(nonce, sealed, header + associated)
            except InvalidTag:
                continue
        raise Undecryptable()

    def is_current(self, ciphertext: bytes) -> bool:
        return key_id_of(ciphertext) == self.current_id

    def reencrypt(self, ciphertext: bytes, *, associated: bytes = b"") -> bytes:
        """The same plaintext sealed with the current key (a fresh nonce either way)."""
        return self.encrypt(self.decrypt(ciphertext, associated=associated), associated=associated)
