"""Which events must not run at once, and so run in the order they arrived.

Events of one pull request (by number, or by head commit, which is all a fork's check run
names), of one installation, of one Linear issue, or hookwise's own backfill and reconcile of
one repository and its `repository` events (archived then unarchived must apply in that order,
and a look reads the status they set) share a key. The keys are worked out at ingest from the
few fields they need and stored with the event (integration_events.serial_keys): a claim takes
an event only when no unfinished event sharing a key arrived before it or is running
(app/queue.py). The worker also holds each key as an
advisory lock while the event's handlers run, which executions take to read settled state.
Those locks are single-bigint keys (hashed); repositories' locks are in PostgreSQL's other,
two-int4 key space, which never overlaps it (app/store/repository_keys.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def keys(
    source: str,
    event_type: str,
    *,
    repository: Any = None,
    pull_number: Any = None,
    pull_head_sha: Any = None,
    run_head_sha: Any = None,
    run_pull_numbers: Iterable[Any] = (),
    installation: Any = None,
    linear_issue: Any = None,
) -> list[str]:
    """The keys, sorted (so two events needing the same keys lock them in one order: no
    deadlock). `repository` and `installation` are GitHub ids, `linear_issue` the id of the
    issue a Linear `Issue` event is about (its data.id); a None part drops its key. A key leaves
    out U+0000: it is stored in a text[], and handlers read the payload's strings without it
    (app/deliveries.py payload_of)."""
    if source == "linear":
        # Two events of one issue would otherwise run at once: the later one's row could be
        # written first, and the earlier one's relinking then run against it.
        if event_type == "Issue" and linear_issue is not None:
            return [_text(f"linear:issue:{linear_issue}")]
        return []
    if source != "github":
        return []
    found = set()
    if repository is not None:
        if pull_number is not None:
            found.add(f"pr:{repository}:{pull_number}")
        if pull_head_sha is not None:
            found.add(f"sha:{repository}:{pull_head_sha}")
        if run_head_sha is not None:
            found.add(f"sha:{repository}:{run_head_sha}")
            found.update(f"pr:{repository}:{number}" for number in run_pull_numbers)
        if event_type.startswith("hookwise.") or event_type == "repository":
            found.add(f"repo:{repository}")
    # hookwise's listing of an installation's repositories adds them as an installation event
    # would (app/reconcile.LIST_REPOSITORIES): not beside one that deletes it.
    if event_type.startswith("installation") or event_type == "hookwise.list_repositories":
        found.add(f"installation:{installation}")
    return sorted({_text(key) for key in found})


def _text(key: str) -> str:
    return key.replace("\x00", "")


def serial_keys(source: str, event_type: str, payload: Mapping[str, Any]) -> list[str]:
    """The keys of a decoded payload."""
    if source == "linear":
        return keys(source, event_type, linear_issue=_get(payload, "data").get("id"))
    repository = _get(payload, "repository").get("id")
    pull = _get(payload, "pull_request")
    run = _get(payload, "check_run")
    return keys(
        source,
        event_type,
        repository=repository,
        pull_number=pull.get("number") if pull else None,
        pull_head_sha=_get(pull, "head").get("sha"),
        run_head_sha=run.get("head_sha") if run else None,
        run_pull_numbers=[
            linked.get("number")
            for linked in run.get("pull_requests") or ()
            if isinstance(linked, Mapping)
        ],
        installation=_get(payload, "installation").get("id"),
    )


def _get(value: Any, name: str) -> Mapping[str, Any]:
    found = value.get(name) if isinstance(value, Mapping) else None
    return found if isinstance(found, Mapping) else {}
