"""A fake Linear: the GraphQL API hookwise uses, and Linear's webhooks, on a real loopback server.

A Starlette app on uvicorn at 127.0.0.1 on a free port, in the test's own event loop, with
in-memory teams, workflow states, issues, attachments and comments. Production code reaches it
only through `fake.url` (the GraphQL endpoint, as LINEAR_API_URL). Replies use Linear's wire
format: `{"data": ...}` or `{"errors": [{"message", "extensions": {"code", ...}}]}`, the
`X-RateLimit-Requests-*` headers on every reply, and a rate limit as HTTP 400 with code
RATELIMITED.

    async with FakeLinear(hook_url=f"{hookwise.url}/webhooks/linear") as linear:
        team = linear.add_team("ENG")
        issue = linear.add_issue("ENG", "Login fails")       # ENG-1, in Todo
        await linear.deliver(linear.issue_webhook(issue, "create"))
        linear.rate_limit(times=1)                           # the next request is refused

Held to Linear's published schema (tests/contracts/linear/schema.graphql): every document is
parsed, validated and executed against it with graphql-core, its variables coerced to their
declared types. A document Linear would refuse gets GraphQL's own error (and fails the test that
sent it, through `problems`); an answer is exactly the selection asked for, each value checked
against its type, so the fake cannot answer a shape Linear never would. Root fields with
resolvers: issue, team, teams, issueUpdate, attachmentCreate, commentCreate.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import secrets
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from graphql import GraphQLError, GraphQLSchema, build_schema, execute, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.deliveries import linear_signature
from tests.fakes import JSONReply
from tests.harness import serving

SCHEMA_FILE = Path(__file__).parent.parent / "contracts" / "linear" / "schema.graphql"

ORGANIZATION = "5f1f0f8a-1111-4222-8333-944445555666"
WEBHOOK_ID = "0e2a3b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
REQUESTS_PER_HOUR = 1500
# A new team's workflow, as Linear creates it: (name, type).
DEFAULT_STATES = (
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("In Review", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
    ("Duplicate", "canceled"),
)


@functools.cache
def schema() -> GraphQLSchema:
    """Linear's schema, built once per test session (a few seconds: it is 1.2 MB)."""
    return build_schema(SCHEMA_FILE.read_text())


@dataclass(eq=False)
class Recorded:
    """One request the fake received, and how it answered (0 while it has not)."""

    headers: dict[str, str] = field(repr=False)  # lower-case names
    json: Any = field(repr=False)  # the body parsed, or None when it is not JSON
    root: str | None = None  # the root field asked for
    status: int = 0
    errors: list[str] = field(default_factory=list)  # extensions.code of each error

    @property
    def variables(self) -> dict[str, Any]:
        return (self.json or {}).get("variables") or {}


@dataclass(eq=False)
class State:
    id: str
    team_id: str
    name: str
    type: str
    position: float


@dataclass(eq=False)
class Team:
    id: str
    key: str
    name: str
    states: list[State] = field(default_factory=list)
    issue_count: int = 0
    # The team's Git automation rules: (event, state or None for no action, branch, is_regex).
    automations: list[tuple[str, State | None, str | None, bool]] = field(default_factory=list)


@dataclass(eq=False)
class Issue:
    id: str
    team: Team
    number: int
    title: str
    state: State
    created_at: datetime
    updated_at: datetime

    @property
    def identifier(self) -> str:
        return f"{self.team.key}-{self.number}"


@dataclass(eq=False)
class Attachment:
    id: str
    issue: Issue
    url: str
    title: str
    subtitle: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(eq=False)
class Comment:
    id: str
    issue: Issue
    body: str
    created_at: datetime


class GraphQLFailure(Exception):
    """An error reply: {"errors": [...]} with this status and code."""

    def __init__(
        self, message: str, code: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = headers or {}


@dataclass(kw_only=True, eq=False)
class FakeLinear:
    """Linear as one API key sees it; `api_key` is the only key it accepts."""

    api_key: str = field(default="lin_api_fakeFAKEfake0123456789", repr=False)
    webhook_secret: str = field(default="linear-test-secret", repr=False)
    hook_url: str | None = None
    workspace: str = "acme"

    url: str = field(default="", init=False)
    requests: list[Recorded] = field(default_factory=list, init=False, repr=False)
    teams: dict[str, Team] = field(default_factory=dict, init=False, repr=False)
    issues: dict[str, Issue] = field(default_factory=dict, init=False, repr=False)
    attachments: dict[str, Attachment] = field(default_factory=dict, init=False, repr=False)
    comments: dict[str, Comment] = field(default_factory=dict, init=False, repr=False)
    _rate_limits: list[float] = field(default_factory=list, init=False, repr=False)
    _failures: list[int] = field(default_factory=list, init=False, repr=False)
    _errors: list[tuple[str, str, int]] = field(default_factory=list, init=False, repr=False)
    # issueUpdate answers `issue: null`, as the schema allows.
    update_without_issue: bool = field(default=False, init=False)
    # Do the next mutation, then answer 502 as if the answer were lost on the way back.
    lose_answers: int = field(default=0, init=False)
    # Documents Linear would refuse, or answers it would never give: the test fails on exit
    # (a test that sends one on purpose clears the list after looking at it).
    problems: list[str] = field(default_factory=list, init=False, repr=False)
    _clock: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)
    _stack: AsyncExitStack | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> FakeLinear:
        app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
        app.state.fake = self
        async with AsyncExitStack() as stack:
            base = await stack.enter_async_context(serving(app))
            self.url = f"{base}/graphql"
            self._http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
        if exc is None and self.problems:
            raise AssertionError(f"against Linear's schema: {self.problems}")

    def refuse(self, message: str, code: str) -> GraphQLFailure:
        """A refusal of a document Linear would refuse too, noted as a problem of the test."""
        self.problems.append(f"{code}: {message}")
        return GraphQLFailure(message, code)

    # Setting up

    def now(self) -> datetime:
        """Strictly increasing times, a millisecond apart, so every change has its own."""
        return datetime.now(UTC).replace(microsecond=0) + timedelta(milliseconds=next(self._clock))

    def add_team(self, key: str, name: str | None = None) -> Team:
        team = Team(id=str(uuid.uuid4()), key=key.upper(), name=name or key.title())
        team.states = [
            State(str(uuid.uuid4()), team.id, state_name, kind, float(position))
            for position, (state_name, kind) in enumerate(DEFAULT_STATES)
        ]
        self.teams[team.id] = team
        return team

    def team(self, key: str) -> Team:
        for team in self.teams.values():
            if team.key == key.upper():
                return team
        raise KeyError(f"no team {key}")

    def add_issue(self, team_key: str, title: str, *, state: str = "Todo") -> Issue:
        team = self.team(team_key)
        team.issue_count += 1
        moment = self.now()
        issue = Issue(
            id=str(uuid.uuid4()),
            team=team,
            number=team.issue_count,
            title=title,
            state=self.state(team, state),
            created_at=moment,
            updated_at=moment,
        )
        self.issues[issue.id] = issue
        return issue

    def state(self, team: Team, name: str) -> State:
        for state in team.states:
            if state.name == name:
                return state
        raise KeyError(f"team {team.key} has no state {name}")

    def automate(
        self,
        team: Team,
        event: str,
        state: str | None,
        *,
        branch: str | None = None,
        regex: bool = False,
    ) -> None:
        """A Git automation rule of the team's: on `event` (merge, ...) move linked issues to
        `state` (None: no action), for PRs into `branch` (None: the default rule)."""
        team.automations.append(
            (event, None if state is None else self.state(team, state), branch, regex)
        )

    def move(self, issue: Issue, state: str) -> None:
        """Change an issue's state in Linear (as a person would)."""
        issue.state = self.state(issue.team, state)
        issue.updated_at = self.now()

    def rate_limit(self, *, times: int = 1, reset_in: float = 60.0) -> None:
        """Answer the next `times` requests with Linear's rate-limit error, resetting then."""
        self._rate_limits.extend([reset_in] * times)

    def fail(self, status: int = 502, *, times: int = 1) -> None:
        """Answer the next `times` requests with a bare `status` (a 5xx at Linear's edge)."""
        self._failures.extend([status] * times)

    def error(self, code: str, message: str, *, status: int = 200, times: int = 1) -> None:
        """Answer the next `times` requests with one GraphQL error: `{"errors": [...]}` with
        extensions.code `code` and the type @linear/sdk reads (LOCK_TIMEOUT: "lock timeout"),
        at HTTP `status`: Linear answers a failure inside the API with 200 and `errors`."""
        self._errors.extend([(code, message, status)] * times)

    # What was asked

    def calls(self, root_field: str) -> list[dict[str, Any]]:
        """The variables of each request for `root_field` that was answered without errors."""
        return [r.variables for r in self.requests if r.root == root_field and r.status == 200]

    # Webhooks, as Linear sends them

    def issue_url(self, issue: Issue) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", issue.title.lower()).strip("-")
        return f"https://linear.app/{self.workspace}/issue/{issue.identifier}/{slug}"

    def issue_webhook(
        self,
        issue: Issue,
        action: str,
        *,
        updated_from: dict[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """An `Issue` webhook body for `issue` as it is now."""
        data = issue_json(self, issue, webhook=True)
        payload: dict[str, Any] = {
            "action": action,
            "actor": {"id": str(uuid.uuid4()), "name": "Ada Lovelace", "type": "user"},
            "createdAt": iso(self.now()),
            "data": data,
            "type": "Issue",
            "url": self.issue_url(issue),
            "organizationId": ORGANIZATION,
            "webhookId": WEBHOOK_ID,
            "webhookTimestamp": int((time.time() if timestamp is None else timestamp) * 1000),
        }
        if action == "remove":
            data["archivedAt"] = payload["createdAt"]
        if updated_from is not None:
            payload["updatedFrom"] = updated_from
        return payload

    def signed(self, payload: dict[str, Any], *, delivery: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Linear-Webhook",
            "Linear-Delivery": delivery or str(uuid.uuid4()),
            "Linear-Event": str(payload.get("type", "")),
            "Linear-Signature": linear_signature(self.webhook_secret.encode(), body),
        }
        return body, headers

    async def deliver(
        self, payload: dict[str, Any], *, delivery: str | None = None
    ) -> httpx.Response:
        """POST a webhook to hook_url, signed as Linear signs it."""
        if self.hook_url is None:
            raise RuntimeError("set hook_url first")
        body, headers = self.signed(payload, delivery=delivery)
        return await self._http.post(self.hook_url, content=body, headers=headers)

    # Used by the endpoint

    def rate_headers(self, *, limited: bool = False, reset_in: float = 60.0) -> dict[str, str]:
        reset = int((time.time() + reset_in) * 1000)
        used = len(self.requests)
        return {
            "X-RateLimit-Requests-Limit": str(REQUESTS_PER_HOUR),
            "X-RateLimit-Requests-Remaining": "0" if limited else str(REQUESTS_PER_HOUR - used),
            "X-RateLimit-Requests-Reset": str(reset),
        }

    def find_issue(self, key: Any) -> Issue:
        if isinstance(key, str):
            if key in self.issues:
                return self.issues[key]
            for issue in self.issues.values():
                if issue.identifier == key.upper():
                    return issue
        raise GraphQLFailure("Entity not found: Issue", "INVALID_INPUT")


# Endpoint


async def graphql(request: Request) -> Response:
    fake: FakeLinear = request.app.state.fake
    body = await request.body()
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    record = Recorded(headers=dict(request.headers), json=document)
    fake.requests.append(record)
    try:
        if fake._failures:
            status = fake._failures.pop(0)
            record.status = status
            return Response(b"upstream error", status, media_type="text/plain")
        if fake._errors:
            code, message, status = fake._errors.pop(0)
            raise GraphQLFailure(message, code, status=status)
        if fake._rate_limits:
            reset_in = fake._rate_limits.pop(0)
            raise GraphQLFailure(
                "Rate limit exceeded",
                "RATELIMITED",
                headers=fake.rate_headers(limited=True, reset_in=reset_in),
            )
        authenticate(request, fake.api_key)
        data = run(fake, record, document)
        if fake.lose_answers and record.root in MUTATIONS:
            fake.lose_answers -= 1
            record.status = 502
            return Response(b"upstream timed out", 502, media_type="text/plain")
    except GraphQLFailure as failure:
        record.status = failure.status
        record.errors = [failure.code]
        error = {
            "message": failure.message,
            "extensions": {
                "code": failure.code,
                "type": failure.code.lower().replace("_", " "),
                "userPresentableMessage": failure.message,
            },
        }
        headers = fake.rate_headers() | failure.headers
        return JSONReply({"errors": [error]}, failure.status, headers=headers)
    record.status = 200
    return JSONReply({"data": data}, headers=fake.rate_headers())


MUTATIONS = frozenset({"issueUpdate", "attachmentCreate", "commentCreate"})


def authenticate(request: Request, api_key: str) -> None:
    # Personal API keys are sent bare; `Bearer` is for OAuth tokens, which this fake has none of.
    given = request.headers.get("authorization", "")
    if not given or not secrets.compare_digest(given.encode(), api_key.encode()):
        raise GraphQLFailure(
            "Authentication required, not authenticated", "AUTHENTICATION_ERROR", status=400
        )


def run(fake: FakeLinear, record: Recorded, document: Any) -> dict[str, Any]:
    """Parse, validate and execute one request against Linear's schema; its `data`.

    What Linear would refuse is a GraphQLFailure with Linear's code, and a problem of the test
    (`fake.problems`): hookwise must never send it.
    """
    if not isinstance(document, dict) or not isinstance(document.get("query"), str):
        raise fake.refuse("Must provide query string.", "BAD_USER_INPUT")
    variables = document.get("variables") or {}
    if not isinstance(variables, dict):
        raise fake.refuse("Variables must be provided as an Object", "BAD_USER_INPUT")
    try:
        tree = parse(document["query"])
    except GraphQLError as exc:
        raise fake.refuse(f"Syntax Error: {exc.message}", "GRAPHQL_PARSE_FAILED") from None
    invalid = validate(schema(), tree)
    if invalid:
        raise fake.refuse(invalid[0].message, "GRAPHQL_VALIDATION_FAILED")
    roots = [
        selection.name.value
        for definition in tree.definitions
        for selection in getattr(definition, "selection_set", None).selections
        if hasattr(selection, "name")
    ]
    record.root = roots[0] if roots else None
    result = execute(
        schema(),
        tree,
        root_value=Root(fake),
        variable_values=variables,
        operation_name=document.get("operationName"),
    )
    assert not hasattr(result, "__await__"), "the fake's resolvers are synchronous"
    for error in result.errors or ():
        original = error.original_error
        if isinstance(original, GraphQLFailure):
            raise original
        # A variable of the wrong type, or an answer the schema does not allow.
        raise fake.refuse(error.message, "GRAPHQL_VALIDATION_FAILED")
    return result.data or {}


class Root:
    """The root fields Linear answers here; graphql-core calls each with (info, **arguments)
    and keeps of its object only what the selection asks, checked against the schema."""

    def __init__(self, fake: FakeLinear) -> None:
        self.fake = fake

    def issue(self, _info: Any, id: str) -> dict[str, Any]:
        return resolve_issue(self.fake, {"id": id})

    def team(self, _info: Any, id: str) -> dict[str, Any]:
        return resolve_team(self.fake, {"id": id})

    def teams(self, _info: Any, **_arguments: Any) -> dict[str, Any]:
        nodes = [team_json(team) for team in self.fake.teams.values()]
        return {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}

    def issueUpdate(self, _info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        return resolve_issue_update(self.fake, {"id": id, "input": input})

    def attachmentCreate(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        return resolve_attachment_create(self.fake, {"input": input})

    def comment(self, _info: Any, id: str | None = None, **_more: Any) -> dict[str, Any]:
        found = self.fake.comments.get(id or "")
        if found is None:
            raise GraphQLFailure("Entity not found: Comment", "INVALID_INPUT")
        return comment_json(found)

    def commentCreate(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        return resolve_comment_create(self.fake, {"input": input})


# Resolvers: the root field's whole object, in Linear's shape


def resolve_issue(fake: FakeLinear, variables: dict[str, Any]) -> dict[str, Any]:
    return issue_json(fake, fake.find_issue(variables.get("id")))


def resolve_team(fake: FakeLinear, variables: dict[str, Any]) -> dict[str, Any]:
    team = fake.teams.get(variables.get("id", "")) or next(
        (t for t in fake.teams.values() if t.key == str(variables.get("id", "")).upper()), None
    )
    if team is None:
        raise GraphQLFailure("Entity not found: Team", "INVALID_INPUT")
    return team_json(team)


def resolve_issue_update(fake: FakeLinear, variables: dict[str, Any]) -> dict[str, Any]:
    issue = fake.find_issue(variables.get("id"))
    changes = variables.get("input") or {}
    if "stateId" in changes:
        state = next((s for s in issue.team.states if s.id == changes["stateId"]), None)
        if state is None:
            raise GraphQLFailure(
                "Argument Validation Error: stateId must be a state of the issue's team",
                "INVALID_INPUT",
            )
        issue.state = state
    if "title" in changes:
        issue.title = str(changes["title"])
    issue.updated_at = fake.now()
    # The payload's issue is nullable, and Linear leaves it out at times (a key that may update
    # but not read the issue back).
    answered = None if fake.update_without_issue else issue_json(fake, issue)
    return {"success": True, "lastSyncId": next(fake._clock), "issue": answered}


def resolve_attachment_create(fake: FakeLinear, variables: dict[str, Any]) -> dict[str, Any]:
    given = variables.get("input") or {}
    issue = fake.find_issue(given.get("issueId"))
    url, title = given.get("url"), given.get("title")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise GraphQLFailure("Argument Validation Error: url must be a URL", "INVALID_INPUT")
    if not isinstance(title, str) or not title:
        raise GraphQLFailure("Argument Validation Error: title is required", "INVALID_INPUT")
    moment = fake.now()
    # Linear keeps one attachment per URL and issue: creating it again updates it.
    for attachment in fake.attachments.values():
        if attachment.issue is issue and attachment.url == url:
            attachment.title, attachment.subtitle = title, given.get("subtitle")
            attachment.updated_at = moment
            break
    else:
        attachment = Attachment(
            str(uuid.uuid4()), issue, url, title, given.get("subtitle"), moment, moment
        )
        fake.attachments[attachment.id] = attachment
    return {
        "success": True,
        "lastSyncId": next(fake._clock),
        "attachment": attachment_json(attachment),
    }


def resolve_comment_create(fake: FakeLinear, variables: dict[str, Any]) -> dict[str, Any]:
    given = variables.get("input") or {}
    issue = fake.find_issue(given.get("issueId"))
    body = given.get("body")
    if not isinstance(body, str) or not body.strip():
        raise GraphQLFailure("Argument Validation Error: body is required", "INVALID_INPUT")
    comment_id = given.get("id") or str(uuid.uuid4())
    if comment_id in fake.comments:
        # A client-made id names one comment: sending it again creates nothing.
        raise GraphQLFailure(f"Entity already exists: Comment {comment_id}", "INVALID_INPUT")
    comment = Comment(comment_id, issue, body, fake.now())
    fake.comments[comment.id] = comment
    return {"success": True, "lastSyncId": next(fake._clock), "comment": comment_json(comment)}


def iso(moment: datetime) -> str:
    """Linear's timestamps: milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def state_json(state: State) -> dict[str, Any]:
    return {"id": state.id, "name": state.name, "type": state.type, "position": state.position}


def team_json(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "key": team.key,
        "name": team.name,
        "states": {"nodes": [state_json(s) for s in team.states]},
        "gitAutomationStates": {
            "nodes": [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{team.id}/{event}/{branch}")),
                    "event": event,
                    "state": None if state is None else state_json(state),
                    "targetBranch": None
                    if branch is None
                    else {"branchPattern": branch, "isRegex": regex},
                }
                for event, state, branch, regex in team.automations
            ]
        },
    }


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "url": attachment.url,
        "title": attachment.title,
        "subtitle": attachment.subtitle,
        "createdAt": iso(attachment.created_at),
        "updatedAt": iso(attachment.updated_at),
    }


def comment_json(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "body": comment.body, "createdAt": iso(comment.created_at)}


def issue_json(fake: FakeLinear, issue: Issue, *, webhook: bool = False) -> dict[str, Any]:
    """The API's Issue object; with `webhook`, the flatter shape of a webhook's `data`."""
    team = issue.team
    common = {
        "id": issue.id,
        "identifier": issue.identifier,
        "number": issue.number,
        "title": issue.title,
        "url": fake.issue_url(issue),
        "createdAt": iso(issue.created_at),
        "updatedAt": iso(issue.updated_at),
        "state": {**state_json(issue.state), "color": "#e2e2e2"},
    }
    if webhook:
        return common | {
            "teamId": team.id,
            "stateId": issue.state.id,
            "team": {"id": team.id, "key": team.key, "name": team.name},
        }
    mine = [c for c in fake.comments.values() if c.issue is issue]
    attached = [a for a in fake.attachments.values() if a.issue is issue]
    return common | {
        "team": {"id": team.id, "key": team.key, "name": team.name},
        "comments": {"nodes": [comment_json(c) for c in mine]},
        "attachments": {"nodes": [attachment_json(a) for a in attached]},
    }
