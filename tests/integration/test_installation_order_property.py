"""An installation's events handled in arrival order, with any of them handled again later (an
operator's `hookwise replay`, an event that stepped aside for a retry), end where arrival order
alone ends: GitHub gives suspend, unsuspend and repository changes one installation.updated_at,
so only arrival tells them apart (migration 0018)."""

from __future__ import annotations

import copy
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import Context
from tests.fixtures import github_example
from tests.integration.test_handlers import deliver, rows
from tests.integration.test_handlers_property import app_context, db_conn
from tests.pg import TRUNCATE

__all__ = ["app_context", "db_conn"]

CREATED = github_example("installation", "created")
INSTALLATION_ID = CREATED["installation"]["id"]
STAMP = CREATED["installation"]["updated_at"]
SPACE = github_example("installation_repositories", "added")["repositories_added"]


def same_stamp(event: str, action: str, **changes: Any) -> dict[str, Any]:
    """GitHub's example of the event, for the created installation, at its updated_at."""
    payload = copy.deepcopy(github_example(event, action))
    payload["installation"] = copy.deepcopy(CREATED["installation"]) | changes
    return payload


def life() -> list[tuple[str, dict[str, Any]]]:
    """(event, payload) of one installation, in arrival order, all at one updated_at."""
    suspended = github_example("installation", "suspend")["installation"]
    removed = same_stamp("installation_repositories", "removed")
    removed["repositories_removed"] = SPACE
    return [
        ("installation", CREATED),
        ("installation_repositories", same_stamp("installation_repositories", "added")),
        (
            "installation",
            same_stamp(
                "installation",
                "suspend",
                suspended_at=suspended["suspended_at"],
                suspended_by=suspended["suspended_by"],
            ),
        ),
        ("installation", same_stamp("installation", "unsuspend")),
        ("installation_repositories", removed),
        (
            "installation",
            same_stamp("installation", "new_permissions_accepted", permissions={"checks": "write"}),
        ),
    ]


LIFE = life()
INSTALLATION = """
SELECT account_login, permissions, suspended_at, suspended_by, last_event_at, deleted_at
FROM installations ORDER BY id
"""
REPOSITORIES = "SELECT github_id, status::text, installation_id FROM repositories ORDER BY 1"


@st.composite
def with_replays(draw: st.DrawFn) -> list[int]:
    """Indexes of LIFE in arrival order, some handled first later than their place (each
    stepped aside for its retry while later ones went ahead), with events handled again
    anywhere after their first handling."""
    order = list(range(len(LIFE)))
    for _ in range(draw(st.integers(0, 3))):
        late = draw(st.integers(0, len(LIFE) - 1))
        order.remove(late)
        order.insert(draw(st.integers(0, len(order))), late)
    for _ in range(draw(st.integers(0, 6))):
        again = draw(st.integers(0, len(LIFE) - 1))
        first = order.index(again)
        order.insert(draw(st.integers(first + 1, len(order))), again)
    return order


async def handled(conn: asyncpg.Connection, app: Context, order: list[int]) -> Any:
    await conn.execute(TRUNCATE)
    for index in order:
        event, payload = LIFE[index]
        await deliver(conn, app, event, payload, arrival=index + 1)
    return await rows(conn, INSTALLATION), await rows(conn, REPOSITORIES)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=with_replays())
async def test_replays_leave_an_installation_as_arrival_order_does(
    db_conn: asyncpg.Connection, app_context: Context, order: list[int]
) -> None:
    installation, repos = await handled(db_conn, app_context, list(range(len(LIFE))))
    # Arrival order: unsuspended, Space removed, the permissions last accepted.
    assert [(i["suspended_at"], i["permissions"]) for i in installation] == [
        (None, {"checks": "write"})
    ]
    assert {r["github_id"]: r["status"] for r in repos}[SPACE[0]["id"]] == "removed"
    assert await handled(db_conn, app_context, order) == (installation, repos)


async def test_a_suspend_retried_after_the_unsuspend_leaves_it_unsuspended(
    db_conn: asyncpg.Connection, app_context: Context
) -> None:
    # The suspend failed and waited for its retry while the unsuspend went ahead: that one
    # says what the row already said (never suspended yet), and still arrived later.
    created, added, suspend, unsuspend = range(4)
    installation, _ = await handled(db_conn, app_context, [created, added, unsuspend, suspend])
    assert [i["suspended_at"] for i in installation] == [None]


async def test_a_removal_retried_after_a_later_event_still_removes_the_repository(
    db_conn: asyncpg.Connection, app_context: Context
) -> None:
    # The removal of Space waited for its retry while the permissions, accepted later, went
    # ahead: the installation's view it carries is older, what it says of Space is not.
    order = [0, 1, 2, 3, 5, 4]
    installation, repos = await handled(db_conn, app_context, order)
    assert [i["permissions"] for i in installation] == [{"checks": "write"}]
    assert {r["github_id"]: r["status"] for r in repos}[SPACE[0]["id"]] == "removed"


async def test_a_creation_retried_after_a_later_event_still_adds_its_repositories(
    db_conn: asyncpg.Connection, app_context: Context
) -> None:
    # `created` waited for its retry while the `added` after it went ahead.
    _, repos = await handled(db_conn, app_context, [1, 0])
    listed = {r["id"] for r in CREATED["repositories"]}
    assert {
        r["github_id"]: r["status"] for r in repos if r["github_id"] in listed
    } == dict.fromkeys(listed, "active")
