"""How bodies are kept: deflated when that pays, always given back byte for byte."""

from __future__ import annotations

import asyncio
import random
import uuid
import zlib
from pathlib import Path

import asyncpg
import pytest

from app.context import open_context
from app.deliveries import Delivery
from app.settings import Settings
from app.store import bodies
from app.store.group_commit import GroupCommit

PULL_REQUEST = (Path(__file__).parents[1] / "payloads" / "pull_request.opened.json").read_bytes()


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def test_a_json_body_is_deflated_to_a_plain_zlib_stream() -> None:
    packed = bodies.pack(PULL_REQUEST)
    assert packed.encoding == "deflate"
    assert len(packed.data) < len(PULL_REQUEST) / 4
    # Anything with a zlib can read it back, not only hookwise.
    assert zlib.decompress(packed.data) == PULL_REQUEST


@pytest.mark.parametrize(
    "body",
    [b"", b'{"zen": "Keep it logically awesome."}', random_bytes(64 * 1024)],
    ids=["empty", "small", "incompressible"],
)
def test_small_or_incompressible_bodies_are_kept_as_they_are(body: bytes) -> None:
    assert bodies.pack(body) == bodies.Packed("identity", body)


async def test_a_large_body_is_deflated_off_the_event_loop_and_comes_back_whole() -> None:
    large = PULL_REQUEST * 1000  # 25 MB, GitHub's largest
    packed = await bodies.pack_async(large)
    assert packed.encoding == "deflate"
    assert bodies.unpack(packed.encoding, packed.data) == large


def test_an_unknown_encoding_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unknown body encoding 'br'"):
        bodies.unpack("br", b"")


async def test_a_batch_keeps_each_body_apart(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    """Bodies of a batch travel as one bytea that each row cuts its slice from; small batch byte
    limits split a burst into several batches. Every row must still get its own bytes."""
    sent = {
        str(uuid.uuid4()): body
        for body in [
            PULL_REQUEST,
            b"{}",
            random_bytes(300_000, seed=1),
            PULL_REQUEST[:5000] + b"}",
            random_bytes(1, seed=2),
            random_bytes(700_000, seed=3),
            *(PULL_REQUEST.replace(b"opened", b"x" * n) for n in range(10)),
        ]
    }
    async with open_context(settings, dsn) as ctx:
        github = ctx.integration_ids["github"]
        group = GroupCommit(ctx.pool, writers=1, max_bytes=400_000)
        try:
            results = await asyncio.gather(
                *(
                    group.store(github, Delivery("github", "1", key, "push", None, {}, body))
                    for key, body in sent.items()
                )
            )
        finally:
            await group.close()
    assert [r.duplicate for r in results] == [False] * len(sent)
    rows = await db.fetch("SELECT delivery_id, body_encoding, body FROM integration_events")
    stored = {r["delivery_id"]: bodies.unpack(r["body_encoding"], r["body"]) for r in rows}
    assert stored == sent
    encodings = {r["delivery_id"]: r["body_encoding"] for r in rows}
    assert sorted(set(encodings.values())) == ["deflate", "identity"]
