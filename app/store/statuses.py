"""The statuses an event and an execution go through, as the database spells them.

integration_events.status (seed 001's CHECK) and workflow_executions.status (migration 0009's
CHECK). Queries keep their literals; Python that passes, lists, counts or offers a status uses
these, so `hookwise status`, /metrics and the admin pages name and order them alike.
"""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    """An event's status, in the order it goes through them: stored, claimed by a worker, then
    one of three ends."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    # No handler for it.
    IGNORED = "ignored"
    # Dead-lettered after HOOKWISE_MAX_ATTEMPTS: stays until replayed or pruned.
    FAILED = "failed"


# What `hookwise replay --status` takes: an event a worker holds is never replayed under it.
REPLAYABLE = tuple(status for status in EventStatus if status is not EventStatus.PROCESSING)


class ExecutionStatus(StrEnum):
    """An execution's (a reaction's run) status, in the order it goes through them."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Its conditions turned out not to hold (changed paths, size): neither success nor failure.
    SKIPPED = "skipped"
    # Allowed by the schema (migration 0005) and pruned like the other ends; hookwise writes
    # none, so listings leave it out.
    TIMEOUT = "timeout"


# The statuses `hookwise executions --status` offers and `hookwise status` counts.
LISTED = tuple(status for status in ExecutionStatus if status is not ExecutionStatus.TIMEOUT)
