"""The byte budget behind ingest's memory bound (app/http/budget.py), on its own."""

from __future__ import annotations

import asyncio

import pytest

from app.http.budget import ByteBudget, Lanes
from app.settings import Settings


async def test_bytes_are_taken_and_given_back() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(60, wait=0)
    assert await budget.acquire(40, wait=0)
    assert budget.used == 100
    assert not await budget.acquire(1, wait=0)
    budget.release(40)
    assert await budget.acquire(40, wait=0)


async def test_more_than_the_capacity_is_refused_at_once() -> None:
    budget = ByteBudget(100)
    assert not await budget.acquire(101, wait=60)
    assert budget.used == 0


async def test_a_waiter_gets_its_bytes_when_they_are_given_back() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(100, wait=0)
    waiting = asyncio.create_task(budget.acquire(70, wait=60))
    await asyncio.sleep(0)  # let it queue: it cannot have its bytes yet
    assert not waiting.done()
    budget.release(100)
    assert await waiting
    assert budget.used == 70


async def test_waiters_are_served_in_order_so_a_large_one_is_not_overtaken() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(50, wait=0)
    large = asyncio.create_task(budget.acquire(100, wait=60))
    await asyncio.sleep(0)
    # 50 bytes are free, but the large request came first: the small one queues behind it.
    small = asyncio.create_task(budget.acquire(10, wait=60))
    await asyncio.sleep(0)
    assert not small.done()
    budget.release(50)
    assert await large
    assert not small.done()
    budget.release(100)
    assert await small


async def test_a_waiter_that_gives_up_lets_those_behind_it_through() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(50, wait=0)
    large = asyncio.create_task(budget.acquire(100, wait=0.05))
    await asyncio.sleep(0)
    small = asyncio.create_task(budget.acquire(10, wait=60))
    assert not await large
    assert await small
    assert budget.used == 60


async def test_a_cancelled_waiter_takes_nothing() -> None:
    budget = ByteBudget(10)
    assert await budget.acquire(10, wait=0)
    waiting = asyncio.create_task(budget.acquire(5, wait=60))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    budget.release(10)
    assert budget.used == 0


def test_lanes_split_the_budget_and_sort_bodies_by_declared_size(tmp_path) -> None:
    settings = Settings().with_env(
        HOOKWISE_DATA_DIR=tmp_path,
        HOOKWISE_MAX_INFLIGHT_BYTES=64 << 20,
        HOOKWISE_LARGE_BODY_BYTES=1 << 20,
    )
    small, large = settings.web.body_lanes
    assert (small, large) == (16 << 20, 48 << 20)
    lanes = Lanes.sized(small, large, threshold=1 << 20, wait=1.0)
    assert not lanes.is_large(1 << 20)
    assert lanes.is_large((1 << 20) + 1)
    # A chunked body has no declared size: it counts as the largest allowed.
    assert lanes.is_large(None)


def test_a_budget_that_cannot_hold_the_largest_body_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="HOOKWISE_MAX_INFLIGHT_BYTES must hold one body"):
        Settings().with_env(
            HOOKWISE_DATA_DIR=tmp_path,
            HOOKWISE_MAX_INFLIGHT_BYTES=30 << 20,
            HOOKWISE_MAX_BODY_BYTES=25 << 20,
        )
