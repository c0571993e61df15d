"""GitHub's limits on what hookwise writes, and text cut to fit them. Pure functions.

From GitHub's OpenAPI description (@octokit/openapi, checks/create and checks/update):
output.summary and output.text at most 65,535 characters, output.annotations at most 50 a
request (more go in further updates), actions at most 3, each with a label of at most 20
characters, a description of at most 40 and an identifier of at most 20. Issue comments,
reviews and review comments: GitHub answers 422 "Body is too long (maximum is 65536
characters)". A check run's name and title have no stated limit; 100 and 255 keep them to what
GitHub's pages show. Characters are Unicode code points, as JSON Schema's maxLength counts them.

And on what hookwise reads, from GitHub's REST reference: a pull request's files (GET
/pulls/{n}/files) "Responses include a maximum of 3000 files"; a comparison (GET
/compare/{basehead}) "includes up to 300 changed files for the entire comparison", on its first
page only. Neither answer says it was cut, so a listing as long as its cap may be: `may_be_cut`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import Any

CHECK_NAME = 100
CHECK_TITLE = 255
CHECK_TEXT = 65_535  # output.summary and output.text
ANNOTATIONS_PER_REQUEST = 50
ACTIONS = 3
ACTION_FIELDS = {"label": 20, "description": 40, "identifier": 20}
COMMENT_BODY = 65_536  # issue comments, reviews, review comments
CUT_NOTE = "\n\n… (cut to fit GitHub's limit)"
PULL_FILES = 3_000  # files GET /pulls/{n}/files lists at most
COMPARE_FILES = 300  # files GET /compare/{basehead} lists at most


def cut(text: str, limit: int, note: str = CUT_NOTE) -> str:
    """`text` if it fits in `limit` characters, else its start and `note`, `limit` in all."""
    if len(text) <= limit:
        return text
    if len(note) >= limit:
        return text[:limit]
    return text[: limit - len(note)] + note


def check_output(title: str, summary: str, text: str | None = None) -> dict[str, str]:
    """A check run's `output` (title, summary and text, when given) cut to GitHub's limits."""
    output = {"title": cut(title, CHECK_TITLE, "…"), "summary": cut(summary, CHECK_TEXT)}
    if text is not None:
        output["text"] = cut(text, CHECK_TEXT)
    return output


def check_actions(actions: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """A check run's `actions`: the first three, each field cut to its limit.

    Raises ValueError when cutting would merge two identifiers: GitHub sends the identifier
    back in check_run.requested_action, so they must stay apart."""
    kept = [
        {key: cut(str(action[key]), limit, "") for key, limit in ACTION_FIELDS.items()}
        for action in actions[:ACTIONS]
    ]
    identifiers = [action["identifier"] for action in kept]
    if len(set(identifiers)) != len(identifiers):
        raise ValueError(f"action identifiers collide when cut to 20 characters: {identifiers}")
    return kept


def annotation_batches(annotations: Iterable[Any]) -> list[list[Any]]:
    """Annotations in requests of at most 50, as GitHub takes them."""
    listed = list(annotations)
    step = ANNOTATIONS_PER_REQUEST
    return [listed[start : start + step] for start in range(0, len(listed), step)]


def may_be_cut(listed: Sized, cap: int) -> bool:
    """Whether a listing GitHub stops at `cap` entries may lack some: it has `cap` of them (a
    listing of exactly `cap` is whole, but nothing in GitHub's answer tells it apart)."""
    return len(listed) >= cap
