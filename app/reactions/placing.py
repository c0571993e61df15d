"""Post a review whose inline comments GitHub may refuse one by one.

GitHub refuses a whole review (422, "Line could not be resolved", "Path could not be resolved")
when one of its comments does not fit the diff at `commit_id`, and says not which. hookwise
checks each anchor against the diff first (app/analysis/diff.py), yet GitHub has the last word:
when it refuses, each comment is asked about alone, as a pending review that is deleted at once
(visible to no one), and the review is posted with the comments GitHub placed, its body naming
the others. One pending review per user and pull request is all GitHub allows, so one left by an
attempt that stopped half-way is deleted first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from app.clients.errors import Refused
from app.clients.github_port import RepoPort


def refused_note(refused: list[Mapping[str, Any]]) -> str:
    """What the review's body says of the comments GitHub refused; "" when none was."""
    if not refused:
        return ""
    places = ", ".join(
        f"{c['path']} line{'s' if c.get('start_line') else ''} "
        f"{str(c['start_line']) + '-' if c.get('start_line') else ''}{c['line']}"
        for c in refused
    )
    count = len(refused)
    return (
        f"GitHub refused {count} inline comment{'s' if count != 1 else ''} on lines it does "
        f"not place in the diff: {places}."
    )


async def create_review(
    github: RepoPort,
    number: int,
    request: Mapping[str, Any],
    *,
    body_for: Callable[[str], str],
) -> tuple[str, list[Mapping[str, Any]]]:
    """POST /pulls/{n}/reviews with `request`; if GitHub refuses it (422) for its comments, the
    review with those GitHub places and `body_for(refused_note(...))` as its body. Returns the
    review's id and the comments left out. Raises what GitHub raises otherwise, and the 422 of
    a review refused for more than its comments (an unknown commit...)."""
    comments = list(request.get("comments") or ())
    try:
        return await github.create_review(number, request), []
    except Refused as exc:
        if exc.status != HTTPStatus.UNPROCESSABLE_ENTITY or not comments:
            raise
    await github.delete_pending_reviews(number)
    placed, refused = [], []
    for comment in comments:
        try:
            pending = await github.create_review(
                number, {"commit_id": request["commit_id"], "comments": [comment]}
            )
        except Refused as exc:
            if exc.status != HTTPStatus.UNPROCESSABLE_ENTITY:
                raise
            refused.append(comment)
            continue
        await github.delete_review(number, pending)
        placed.append(comment)
    body = body_for(refused_note(refused))
    return await github.create_review(
        number, {**request, "body": body, "comments": placed}
    ), refused
