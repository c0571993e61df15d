"""Linear's GraphQL API over httpx: the few queries and mutations hookwise needs, typed.

- A personal API key goes as `Authorization: <key>`, without Bearer (that is for OAuth tokens).
- Linear answers a rate limit with HTTP 400 (429 at the edge) and an error whose
  extensions.code is RATELIMITED, with `X-RateLimit-Requests-Reset` (and `-Complexity-`)
  headers in epoch milliseconds. That raises RateLimited, which reschedules the event for then
  instead of sleeping in a worker.
- 5xx answers and lost connections are retried a few times with backoff, and so are errors
  Linear reports inside an answer (often HTTP 200) whose type says the failure was its own,
  not the request's: a lock timeout, an internal error (@linear/sdk's LockTimeout,
  InternalError, NetworkError, read from extensions.type or .code). After the tries they are
  Unavailable (retried later), never a refusal.
- Every answer is made storable as it is read (app/text.py): U+0000 dropped, lone surrogates
  U+FFFD.

    LinearError         a call failed; the message names the operation, never the key
     ├── RateLimited    Linear asked us to wait (also a RetryLater)
     ├── Unavailable    no answer, or 5xx after the retries
     └── GraphQLError   Linear refused: carries the status, error codes and messages
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.clients import errors
from app.clients.errors import Refused
from app.retry import backoff
from app.text import storable_document

log = logging.getLogger(__name__)

TRIES = 3
# Seconds before an unknown team key makes us ask Linear for the organisation's teams again.
TEAMS_EVERY = 60.0
RATE_LIMIT_KINDS = ("requests", "complexity", "endpoint-requests")
# Errors of Linear's own, by extensions.type as @linear/sdk reads it (packages/sdk/src/error.ts)
# and the matching extensions.code: asking again may succeed.
TRANSIENT = frozenset({"lock timeout", "internal error", "network error"})


class LinearError(Exception):
    """A call to Linear's API failed."""


class RateLimited(errors.RateLimited, LinearError):
    """Linear asked us to wait."""

    def __init__(self, until: datetime, reason: str) -> None:
        errors.RateLimited.__init__(self, "Linear", until, reason)


class Unavailable(errors.Unavailable, LinearError):
    """Linear did not answer, or answered 5xx every time."""

    def __init__(self, message: str) -> None:
        errors.Unavailable.__init__(self, "Linear", message)


class GraphQLError(errors.Refused, LinearError):
    """Linear answered with errors: refused."""

    def __init__(self, operation: str, status: int, errors: list[Mapping[str, Any]]) -> None:
        self.operation = operation
        self.codes = [str((e.get("extensions") or {}).get("code") or "") for e in errors]
        self.messages = [str(e.get("message") or "") for e in errors]
        detail = "; ".join(
            f"{code}: {message}" if code else message
            for code, message in zip(self.codes, self.messages, strict=True)
        )
        Refused.__init__(
            self, "Linear", status, f"Linear {operation} answered {status}: {detail or 'no detail'}"
        )

    @property
    def not_found(self) -> bool:
        return any(m.startswith("Entity not found") for m in self.messages)


@dataclass(frozen=True)
class WorkflowState:
    id: str
    name: str
    type: str  # triage, backlog, unstarted, started, completed, canceled
    position: float


@dataclass(frozen=True)
class Issue:
    id: str
    identifier: str
    title: str
    url: str
    updated_at: datetime
    team_id: str
    team_key: str
    state: WorkflowState


@dataclass(frozen=True)
class Comment:
    id: str
    body: str


@dataclass(frozen=True)
class GitAutomation:
    """One of a team's Git automation rules: on `event` (draft, start, review, mergeable,
    merge), move linked issues to `state` (None: take no action). `branch_pattern` None is the
    team's default rule; else the rule holds for PRs into matching branches and overrides it."""

    event: str
    state: WorkflowState | None
    branch_pattern: str | None = None
    is_regex: bool = False

    def matches(self, branch: str) -> bool:
        if self.branch_pattern is None:
            return True
        if self.is_regex:
            # Linear's patterns are JavaScript regular expressions, tested anywhere in the name.
            try:
                return re.search(self.branch_pattern, branch) is not None
            except re.error:
                return False
        return self.branch_pattern == branch


@dataclass(frozen=True)
class TeamWorkflow:
    states: list[WorkflowState]
    automations: list[GitAutomation]


ISSUE = """
query Issue($id: String!) {
  issue(id: $id) {
    id identifier title url updatedAt
    team { id key }
    state { id name type position }
  }
}
"""
ISSUE_COMMENTS = """
query IssueComments($id: String!) {
  issue(id: $id) {
    id
    comments(first: 100) { nodes { id body } }
  }
}
"""
TEAM_STATES = """
query TeamStates($id: String!) {
  team(id: $id) {
    id key
    states { nodes { id name type position } }
    gitAutomationStates {
      nodes {
        event
        state { id name type position }
        targetBranch { branchPattern isRegex }
      }
    }
  }
}
"""
TEAMS = """
query Teams($after: String) {
  teams(first: 100, after: $after) {
    nodes { id key }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ISSUE_UPDATE = """
mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    issue { id state { id name type position } }
  }
}
"""
ATTACHMENT_CREATE = """
mutation AttachmentCreate($input: AttachmentCreateInput!) {
  attachmentCreate(input: $input) {
    success
    attachment { id url }
  }
}
"""
COMMENT = """
query Comment($id: String!) {
  comment(id: $id) { id body }
}
"""
COMMENT_CREATE = """
mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id }
  }
}
"""


def rate_limit_reset(headers: Mapping[str, str], *, now: datetime) -> datetime:
    """When Linear takes requests again: the reset of the exhausted budget, else the latest."""
    resets: dict[str, datetime] = {}
    for kind in RATE_LIMIT_KINDS:
        value = headers.get(f"x-ratelimit-{kind}-reset", "")
        if value.isdigit():
            number = int(value)
            # Documented as epoch milliseconds; a value in seconds is taken as such.
            seconds = number / 1000 if number > 10**11 else number
            resets[kind] = datetime.fromtimestamp(seconds, UTC)
    exhausted = [
        at for kind, at in resets.items() if headers.get(f"x-ratelimit-{kind}-remaining") == "0"
    ]
    chosen = max(exhausted or resets.values(), default=None)
    retry_after = headers.get("retry-after", "")
    if chosen is None and retry_after.isdigit():
        chosen = now + timedelta(seconds=int(retry_after))
    # Unsaid: a minute. A reset already past: a moment, so clocks out of step do not spin.
    return max(chosen or now + timedelta(minutes=1), now + timedelta(seconds=1))


def _kind(error: Mapping[str, Any]) -> str:
    """A GraphQL error's type as @linear/sdk reads it: extensions.type ("lock timeout"), else
    extensions.code in the same words (LOCK_TIMEOUT)."""
    extensions = error.get("extensions")
    if not isinstance(extensions, Mapping):
        return ""
    kind = extensions.get("type") or str(extensions.get("code") or "").replace("_", " ")
    return str(kind).lower()


def _state(node: Mapping[str, Any]) -> WorkflowState:
    return WorkflowState(
        id=node["id"],
        name=node["name"],
        type=node["type"],
        position=float(node.get("position") or 0),
    )


def completed_state(states: list[WorkflowState]) -> WorkflowState | None:
    """The team's first 'completed' state (Done), as Linear's own integrations pick it."""
    done = sorted((s for s in states if s.type == "completed"), key=lambda s: s.position)
    return done[0] if done else None


class NoAction:
    """A team rule that says: on this event, leave the issue where it is."""


NO_ACTION = NoAction()


def automation_state(
    workflow: TeamWorkflow, event: str, target_branch: str
) -> WorkflowState | NoAction:
    """The state a team's own Git automation moves a linked issue to on `event` for a PR into
    `target_branch`, as Linear's GitHub integration decides
    (https://linear.app/docs/github, "Workflow automations"; the schema's GitAutomationState):
    a rule for the target branch overrides the team's default rule; a rule whose state is null
    means no action. With no rule for the event: the first completed state on merge, else none.
    """
    rules = [a for a in workflow.automations if a.event == event]
    chosen = next(
        (a for a in rules if a.branch_pattern is not None and a.matches(target_branch)), None
    )
    if chosen is None:
        chosen = next((a for a in rules if a.branch_pattern is None), None)
    if chosen is not None:
        return chosen.state if chosen.state is not None else NO_ACTION
    if event == "merge":
        return completed_state(workflow.states) or NO_ACTION
    return NO_ACTION


class LinearClient:
    """Linear's API as one API key sees it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        api_key: str,
        retry_seconds: float = 0.5,
    ) -> None:
        self._http = http
        self.url = url
        self._api_key = api_key
        self._retry_seconds = retry_seconds
        self._team_keys: set[str] = set()
        self._team_keys_at: float | None = None

    def __repr__(self) -> str:
        return f"LinearClient(url={self.url!r})"

    async def execute(self, operation: str, query: str, variables: dict[str, Any]) -> Any:
        """Run one operation; its `data`, or an exception from the module docstring."""
        body = {"query": query, "variables": variables, "operationName": operation}
        headers = {"Authorization": self._api_key, "User-Agent": "hookwise"}
        for attempt in range(1, TRIES + 1):
            try:
                response = await self._http.post(self.url, json=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == TRIES:
                    raise Unavailable(f"Linear {operation}: {type(exc).__name__}") from exc
                log.warning("Linear %s: %s, retrying", operation, type(exc).__name__)
            else:
                if response.status_code < 500:
                    try:
                        return self._data(operation, response)
                    except Unavailable as exc:
                        if attempt == TRIES:
                            raise
                        log.warning("Linear %s: %s, retrying", operation, exc)
                        await asyncio.sleep(backoff(attempt, base=self._retry_seconds, cap=5.0))
                        continue
                if attempt == TRIES:
                    raise Unavailable(f"Linear {operation} answered {response.status_code}")
                log.warning("Linear %s answered %d, retrying", operation, response.status_code)
            await asyncio.sleep(backoff(attempt, base=self._retry_seconds, cap=5.0))
        raise AssertionError("unreachable")

    def _data(self, operation: str, response: httpx.Response) -> Any:
        try:
            # Made storable first (app/text.py): an issue's title, a comment, an error's message
            # may hold U+0000 or a lone surrogate, which no text column takes.
            answer = json.loads(storable_document(response.content))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise GraphQLError(operation, response.status_code, [{"message": "not JSON"}])
        errors = answer.get("errors") or []
        if errors or response.status_code == 429:
            error = GraphQLError(operation, response.status_code, errors)
            if response.status_code == 429 or "RATELIMITED" in error.codes:
                at = rate_limit_reset(response.headers, now=datetime.now(UTC))
                raise RateLimited(at, f"Linear rate limit on {operation}") from error
            if any(_kind(e) in TRANSIENT for e in errors if isinstance(e, Mapping)):
                raise Unavailable(str(error)) from error
            raise error
        if response.status_code != 200 or not isinstance(answer.get("data"), dict):
            raise GraphQLError(operation, response.status_code, [{"message": "no data"}])
        return answer["data"]

    async def _mutate(self, operation: str, query: str, field: str, **variables: Any) -> Any:
        payload = (await self.execute(operation, query, variables))[field]
        if not payload or not payload.get("success"):
            raise GraphQLError(operation, 200, [{"message": f"{field} did not succeed"}])
        return payload

    async def issue(self, issue_id: str) -> Issue | None:
        """An issue by id or identifier (ENG-123); None when Linear has no such issue."""
        try:
            data = await self.execute("Issue", ISSUE, {"id": issue_id})
        except GraphQLError as exc:
            if exc.not_found:
                return None
            raise
        node = data["issue"]
        if node is None:
            return None
        return Issue(
            id=node["id"],
            identifier=node["identifier"],
            title=node["title"],
            url=node["url"],
            updated_at=datetime.fromisoformat(node["updatedAt"]),
            team_id=node["team"]["id"],
            team_key=node["team"]["key"],
            state=_state(node["state"]),
        )

    async def comments(self, issue_id: str) -> list[Comment]:
        """The issue's latest 100 comments (enough to find one we made)."""
        data = await self.execute("IssueComments", ISSUE_COMMENTS, {"id": issue_id})
        nodes = ((data["issue"] or {}).get("comments") or {}).get("nodes") or []
        return [Comment(node["id"], node["body"]) for node in nodes]

    async def team_states(self, team_id: str) -> list[WorkflowState]:
        return (await self.team_workflow(team_id)).states

    async def team_workflow(self, team_id: str) -> TeamWorkflow:
        """The team's workflow states and its Git automation rules."""
        data = await self.execute("TeamStates", TEAM_STATES, {"id": team_id})
        team = data["team"]
        automations = []
        for node in (team.get("gitAutomationStates") or {}).get("nodes") or []:
            target = node.get("targetBranch")
            automations.append(
                GitAutomation(
                    event=node["event"],
                    state=_state(node["state"]) if node.get("state") else None,
                    branch_pattern=target["branchPattern"] if target else None,
                    is_regex=bool(target and target.get("isRegex")),
                )
            )
        return TeamWorkflow([_state(n) for n in team["states"]["nodes"]], automations)

    async def team_keys(self) -> set[str]:
        """Every team key of the organisation the key sees (ENG, OPS, ...), all pages."""
        keys: set[str] = set()
        after: str | None = None
        while True:
            page = (await self.execute("Teams", TEAMS, {"after": after}))["teams"]
            keys.update(str(node["key"]).upper() for node in page["nodes"])
            if not page["pageInfo"]["hasNextPage"]:
                return keys
            after = page["pageInfo"]["endCursor"]

    async def teams_among(self, keys: set[str]) -> set[str]:
        """Those of `keys` that are teams of the organisation. Linear is asked for its teams
        once, and again when a key not among them appears, at most once a minute (words such as
        UTF-8 look like identifiers and must not cost a request each)."""
        unknown = keys - self._team_keys
        stale = self._team_keys_at is None or time.monotonic() - self._team_keys_at > TEAMS_EVERY
        if unknown and stale:
            self._team_keys = await self.team_keys()
            self._team_keys_at = time.monotonic()
        return keys & self._team_keys

    async def set_state(self, issue_id: str, state_id: str) -> WorkflowState | None:
        """Move the issue; the state it is in now, or None when Linear did not say (its
        issueUpdate payload's `issue` is nullable: the update still succeeded)."""
        payload = await self._mutate(
            "IssueUpdate", ISSUE_UPDATE, "issueUpdate", id=issue_id, input={"stateId": state_id}
        )
        issue = payload.get("issue")
        return _state(issue["state"]) if issue else None

    async def attach_url(
        self, issue_id: str, *, url: str, title: str, subtitle: str | None = None
    ) -> str:
        """Attach a link to the issue; its attachment id. Linear keeps one attachment per URL
        and issue, so attaching again updates it instead of adding a second."""
        attachment = {"issueId": issue_id, "url": url, "title": title}
        if subtitle is not None:
            attachment["subtitle"] = subtitle
        payload = await self._mutate(
            "AttachmentCreate", ATTACHMENT_CREATE, "attachmentCreate", input=attachment
        )
        return str(payload["attachment"]["id"])

    async def comment(self, issue_id: str, body: str, *, comment_id: str | None = None) -> str:
        """Comment on the issue; the comment's id. `comment_id` (a UUID the caller derives from
        what the comment is for) is sent as the input's `id`, so a retry after a lost answer
        names the same comment: Linear refuses to create a second with that id."""
        given = {"issueId": issue_id, "body": body}
        if comment_id is not None:
            given["id"] = comment_id
        try:
            payload = await self._mutate(
                "CommentCreate", COMMENT_CREATE, "commentCreate", input=given
            )
        except GraphQLError:
            # Refused because an earlier try (whose answer was lost) made it? Then it is ours.
            if comment_id is None or await self.comment_by_id(comment_id) is None:
                raise
            return comment_id
        return str(payload["comment"]["id"])

    async def comment_by_id(self, comment_id: str) -> Comment | None:
        try:
            data = await self.execute("Comment", COMMENT, {"id": comment_id})
        except GraphQLError as exc:
            if exc.not_found:
                return None
            raise
        node = data["comment"]
        return Comment(node["id"], node["body"])
