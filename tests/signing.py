"""Requests signed the way GitHub and Linear sign them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from app.deliveries import github_signature, linear_signature
from tests.conftest import GITHUB_SECRET, LINEAR_SECRET


def github_headers(
    body: bytes,
    event: str,
    *,
    delivery: str | None = None,
    hook_id: str = "42",
    secret: str = GITHUB_SECRET,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": hook_id,
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": "7",
        "X-Hub-Signature-256": github_signature(secret.encode(), body),
    }


def linear_body(**fields: Any) -> bytes:
    payload = {
        "action": "create",
        "type": "Issue",
        "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "identifier": "ENG-123"},
        "url": "https://linear.app/acme/issue/ENG-123",
        "organizationId": "5f1f0f8a-org",
        "webhookId": "0e2a3b4c-hook",
        "webhookTimestamp": int(time.time() * 1000),
    }
    payload.update(fields)
    return json.dumps(payload).encode()


def nested_body(depth: int, top: Mapping[str, Any]) -> bytes:
    """`top` as a JSON object with one field more, "deep", that makes it `depth` levels deep
    (the object itself is the first): objects and arrays in turn, each level holding U+0000.
    Written as text, since json.dumps recurses a level at a time."""
    opened, closed = [], []
    for level in range(1, depth):
        opened.append(f'{{"k\\u0000{level}": ' if level % 2 else "[")
        closed.append("}" if level % 2 else ', "\\u0000"]')
    deep = "".join(opened) + '"a\\u0000b"' + "".join(reversed(closed))
    return (
        json.dumps(dict(top))[:-1] + (', "deep": ' if top else '"deep": ') + deep + "}"
    ).encode()


def linear_headers(
    body: bytes, *, delivery: str | None = None, secret: str = LINEAR_SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Linear-Webhook",
        "Linear-Delivery": delivery or str(uuid.uuid4()),
        "Linear-Event": "Issue",
        "Linear-Signature": linear_signature(secret.encode(), body),
    }


def depth_of(value: Any) -> int:
    """How deep a decoded JSON value nests objects and arrays (a scalar: 0)."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0
