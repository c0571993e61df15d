"""Any delivery order, with redeliveries, ends in the same pull request and check run rows, and
in the repository as the newest payload GitHub made says it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import Context
from app.settings import Settings
from app.store.pool import init_connection
from tests.integration.test_handlers import (
    CHECK_RUN_ROWS,
    HISTORY,
    OPENED,
    PR_ID,
    PR_ROWS,
    REPOSITORY_ID,
    SHA_A,
    SHA_B,
    deliver,
    merge_sequence,
    pr_payload,
    rows,
    run_payload,
)
from tests.integration.test_repository_moves import (
    NAMES,
    NEW,
    RENAMED_AT,
    later,
    named,
    renamed,
    stored_as,
)
from tests.pg import TRUNCATE


def deliveries() -> list[tuple[str, str, dict[str, Any]]]:
    """(event, delivery id, payload) of one PR's life and three runs of its commits."""
    pull_requests = [
        *merge_sequence(),
        # Same updated_at as ready_for_review: the same row, whichever comes last.
        ("d-labeled", pr_payload("labeled", minutes=2, sha=SHA_B)),
        # Same second as the merge but still open: the merge must win in any order.
        ("d-edited", pr_payload("edited", minutes=3, sha=SHA_B)),
    ]
    runs = [
        ("c1-queued", run_payload("created", run_id=1, sha=SHA_B, status="queued")),
        ("c1-progress", run_payload("created", run_id=1, sha=SHA_B, status="in_progress")),
        (
            "c1-done",
            run_payload(
                "completed", run_id=1, sha=SHA_B, status="completed", conclusion="failure",
                completed_minutes=4,
            ),
        ),
        # A fork's run: no pull_requests list, found by its head commit.
        ("c2-queued", run_payload("created", run_id=2, sha=SHA_B, status="queued", listed=False)),
        (
            "c2-done",
            run_payload(
                "completed", run_id=2, sha=SHA_B, status="completed", conclusion="success",
                completed_minutes=5, listed=False,
            ),
        ),
        # A run of the first commit, listed by number.
        (
            "c3-done",
            run_payload(
                "completed", run_id=3, sha=SHA_A, status="completed", conclusion="success",
                completed_minutes=1,
            ),
        ),
    ]  # fmt: skip
    return [("pull_request", *d) for d in pull_requests] + [("check_run", *d) for d in runs]


DELIVERIES = deliveries()


@pytest.fixture
async def db_conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    await init_connection(connection)
    yield connection
    await connection.close()


@pytest.fixture
def app_context(settings: Settings, dsn: str) -> Context:
    return Context(settings=settings, dsn=dsn, pool=None, integration_ids={})  # type: ignore[arg-type]


@st.composite
def delivery_orders(draw: st.DrawFn, count: int = len(DELIVERIES)) -> list[int]:
    """Every one of `count` deliveries at least once, some again (GitHub redelivers), in any
    order."""
    everything = list(range(count))
    again = draw(st.lists(st.sampled_from(everything), max_size=8))
    return draw(st.permutations(everything + again))


async def final_rows(
    conn: asyncpg.Connection, app: Context, order: list[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    await conn.execute(TRUNCATE)
    for index in order:
        event, delivery_id, payload = DELIVERIES[index]
        await deliver(conn, app, event, payload, delivery_id=delivery_id)
    return await rows(conn, PR_ROWS), await rows(conn, CHECK_RUN_ROWS)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=delivery_orders())
async def test_any_order_ends_in_the_same_rows(
    db_conn: asyncpg.Connection, app_context: Context, order: list[int]
) -> None:
    conn = db_conn
    expected = await final_rows(conn, app_context, list(range(len(DELIVERIES))))
    pull_requests, check_runs = await final_rows(conn, app_context, order)
    assert pull_requests == expected[0]
    assert check_runs == expected[1]
    assert [(r["state"], r["draft"], r["head_sha"]) for r in pull_requests] == [
        ("merged", False, SHA_B)
    ]
    assert [(r["github_id"], r["pull_request"], r["status"]) for r in check_runs] == [
        (1, PR_ID, "completed"),
        (2, PR_ID, "completed"),
        (3, PR_ID, "completed"),
    ]
    # History depends on the order, but it is a chain of real changes ending in the row's state.
    history = await rows(conn, HISTORY)
    assert history[0]["old_state"] is None
    for before, after in itertools.pairwise(history):
        assert (after["old_state"], after["from_draft"]) == (
            before["new_state"],
            before["to_draft"],
        )
        changed = (after["new_state"], after["to_draft"], after["head_sha"])
        assert changed != (before["new_state"], before["to_draft"], before["head_sha"])
    assert (history[-1]["new_state"], history[-1]["to_draft"]) == ("merged", False)


def renamed_at(at: int) -> list[tuple[str, str, dict[str, Any]]]:
    """DELIVERIES in arrival order with the repository's rename the `at`th: those arriving after
    it name the repository as it is now."""
    deliveries = [
        (
            event,
            delivery_id,
            # Made after the rename: with its updated_at, nothing changed since.
            payload if index < at else named(payload, NEW, updated_at=RENAMED_AT),
        )
        for index, (event, delivery_id, payload) in enumerate(DELIVERIES)
    ]
    deliveries.insert(at, ("repository", "d-renamed", renamed(NEW)))
    return deliveries


async def handled_in(
    conn: asyncpg.Connection,
    app: Context,
    deliveries: list[tuple[str, str, dict[str, Any]]],
    order: list[int],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows once `deliveries` are handled in `order`, each with its own arrival (its place
    in `deliveries`), whenever and however often it is handled (a redelivery, a replay)."""
    await conn.execute(TRUNCATE)
    for index in order:
        event, delivery_id, payload = deliveries[index]
        await deliver(conn, app, event, payload, delivery_id=delivery_id, arrival=index + 1)
    return await rows(conn, PR_ROWS), await rows(conn, CHECK_RUN_ROWS)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=st.integers(0, len(DELIVERIES)),
    order=delivery_orders(len(DELIVERIES) + 1),
)
async def test_a_rename_among_deliveries_in_any_order_keeps_the_new_name(
    db_conn: asyncpg.Connection, app_context: Context, at: int, order: list[int]
) -> None:
    conn = db_conn
    deliveries = renamed_at(at)
    expected = await handled_in(conn, app_context, deliveries, list(range(len(deliveries))))
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)
    assert await handled_in(conn, app_context, deliveries, order) == expected
    assert tuple(await conn.fetchrow(NAMES, REPOSITORY_ID)) == stored_as(NEW)


# --- a payload GitHub made before later changes, arriving anywhere among them ------------------

ATTRIBUTES = """
SELECT full_name, owner, name, url, private, default_branch, fork, installation_id
FROM repositories WHERE github_id = $1
"""
MOVED_TO = "Octo-Org/Hello-World"
FIRST_INSTALLATION, SECOND_INSTALLATION = 1, 2


def as_made(full_name: str, **more: Any) -> dict[str, Any]:
    """The fixtures' repository object under `full_name`, with `more` fields changed."""
    return named(OPENED, full_name, **more)["repository"]


# The repository as GitHub changed it, one change a minute: (its repository object in a payload
# made then, the installation it is in), and the row that says so. A fork at first.
def repository_states() -> list[tuple[dict[str, Any], int, tuple[Any, ...]]]:
    base = "2019-05-15T16:00:00Z"
    old, new = OPENED["repository"]["full_name"], NEW
    states = [
        ({"fork": True}, old, FIRST_INSTALLATION),
        ({"fork": True}, new, FIRST_INSTALLATION),  # renamed
        ({"fork": True, "private": True}, new, FIRST_INSTALLATION),  # made private
        ({"fork": True, "private": True, "default_branch": "develop"}, new, FIRST_INSTALLATION),
        ({"private": True, "default_branch": "develop"}, new, FIRST_INSTALLATION),  # detached
        ({"private": True, "default_branch": "develop"}, MOVED_TO, SECOND_INSTALLATION),
    ]
    made = []
    for minute, (fields, full_name, installation) in enumerate(states):
        repository = as_made(full_name, updated_at=later(base, 60 * minute), **fields)
        owner, name = full_name.split("/")
        row = (
            full_name, owner, name, repository["html_url"], repository["private"],
            repository["default_branch"], repository["fork"], installation,
        )  # fmt: skip
        made.append((repository, installation, row))
    return made


STATES = repository_states()


def made_at(state: int, kind: str) -> tuple[str, dict[str, Any]]:
    """An event of `kind` GitHub made while the repository was as STATES[state] says."""
    repository, installation, _ = STATES[state]
    if kind == "pull_request":
        payload = pr_payload("labeled", minutes=state)
    elif kind == "check_run":
        payload = run_payload("created", run_id=state + 1, sha=SHA_A, status="queued")
    else:
        payload = {"action": "edited", "sender": OPENED["sender"]}
    return kind, payload | {"repository": repository, "installation": {"id": installation}}


KINDS = st.sampled_from(["pull_request", "check_run", "repository"])


@st.composite
def late_among_changes(draw: st.DrawFn) -> tuple[list[tuple[int, str]], list[int]]:
    """(deliveries in arrival order as (state, kind): one made in each state of the first
    `count`, in GitHub's order, and one more made in an earlier state arriving anywhere among
    them (a redelivery days later: last); an order to handle them in, some again: a retry or a
    replay, with the arrival they had)."""
    count = draw(st.integers(2, len(STATES)))
    deliveries = [(state, draw(KINDS)) for state in range(count)]
    old = (draw(st.integers(0, count - 2)), draw(KINDS))
    deliveries.insert(draw(st.integers(0, count)), old)
    return deliveries, draw(delivery_orders(len(deliveries)))


async def attributes_after(
    conn: asyncpg.Connection, app: Context, deliveries: list[tuple[int, str]], order: list[int]
) -> tuple[Any, ...]:
    """The repository's row once `deliveries` are handled in `order`, each with its own arrival
    (its place in `deliveries`), however often."""
    await conn.execute(TRUNCATE)
    for index in order:
        event, payload = made_at(*deliveries[index])
        await deliver(conn, app, event, payload, delivery_id=f"d{index}", arrival=index + 1)
    return tuple(await conn.fetchrow(ATTRIBUTES, REPOSITORY_ID))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(late=late_among_changes())
async def test_a_payload_made_before_a_change_never_undoes_it_wherever_it_arrives(
    db_conn: asyncpg.Connection,
    app_context: Context,
    late: tuple[list[tuple[int, str]], list[int]],
) -> None:
    conn = db_conn
    deliveries, order = late
    # What the repository is now: as the latest payload GitHub made says.
    expected = STATES[max(state for state, _ in deliveries)][2]
    in_arrival_order = list(range(len(deliveries)))
    assert await attributes_after(conn, app_context, deliveries, in_arrival_order) == expected
    assert await attributes_after(conn, app_context, deliveries, order) == expected
