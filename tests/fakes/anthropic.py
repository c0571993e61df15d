"""A fake Anthropic Messages API: scripted replies on a real loopback server.

A Starlette app on uvicorn at 127.0.0.1 on a free port, in the test's own event loop. Production
code reaches it through its base URL, `fake.url`, with the official SDK:
`AsyncAnthropic(api_key=fake.api_key, base_url=fake.url)`. Replies use Anthropic's wire format:
`request-id` and `anthropic-ratelimit-*` on every reply, errors as
`{"type": "error", "error": {"type", "message"}, "request_id"}`.

    async with FakeAnthropic() as fake:
        fake.fail(529)                                  # the first call is overloaded,
        fake.reply_tool("report", {"category": "lint"}) # the SDK's retry gets the tool call

Every message is built through the SDK's own types (`anthropic.types.Message`, and for a
streamed request the `RawMessageStreamEvent`s, sent as server-sent events), so the fake cannot
answer a shape the real API never would; each documented `stop_reason` can be scripted.

Replies are consumed in the order they were queued, one per request that passes the checks a real
API makes first (credentials, `anthropic-version`, the request's shape): a refused request never
uses up a scripted reply. With the queue empty, `responder` may answer; else a 500 says so.

`hold()` keeps every answer from then on until `release()`: the requests are recorded and wait
(`holding(n)` returns once n of them do), then take their replies in the order they came. A test
makes a crash or a restart happen while production code waits on the model this way.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import anthropic.types
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes import JSONReply
from tests.fakes.github import json_or_none, read_body, replaying, stamping
from tests.harness import serving

# Anthropic's error type and a message in its style, per status.
ERRORS = {
    400: ("invalid_request_error", "fake: invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
# anthropic-ratelimit-* limits per minute, as a mid tier shows them.
RATE_LIMITS = {
    "requests": 4000,
    "tokens": 480_000,
    "input-tokens": 400_000,
    "output-tokens": 80_000,
}
ID_ALPHABET = string.ascii_letters + string.digits
# The most output tokens each model takes, by model-id prefix (the longest wins), from
# Anthropic's models overview; a larger max_tokens is answered 400 invalid_request_error
# "max_tokens: N > M, which is the maximum allowed number of output tokens for <model>".
# A model not listed takes any.
OUTPUT_LIMITS = {
    "claude-opus-4-5": 64_000,
    "claude-opus-4-1": 32_000,
    "claude-opus-4": 32_000,
    "claude-sonnet-4": 64_000,
    "claude-3-7-sonnet": 64_000,
    "claude-haiku-4-5": 64_000,
    "claude-3-5-haiku": 8_192,
    "claude-3-opus": 4_096,
    "claude-3-haiku": 4_096,
}


def output_limit(model: str) -> int | None:
    best = max((p for p in OUTPUT_LIMITS if model.startswith(p)), key=len, default=None)
    return OUTPUT_LIMITS[best] if best is not None else None


def _opened() -> asyncio.Event:
    opened = asyncio.Event()
    opened.set()
    return opened


@dataclass(eq=False)
class Recorded:
    """One request the fake received, and the status it answered (0 while it has not)."""

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)  # lower-case names
    json: Any = field(repr=False)  # the body parsed, or None when it is not JSON
    status: int = 0
    at: float = field(default_factory=time.monotonic, repr=False)  # spacing of retries


@dataclass(eq=False)
class Scripted:
    """A queued answer: a message (content), an error (neither), or a verbatim body (raw)."""

    status: int
    times: int
    content: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    usage: tuple[int, int] = (0, 0)
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class ErrorReply(Exception):
    """An error reply, rendered as Anthropic renders errors."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        self.message = message or error_type(status)[1]
        super().__init__(f"{status} {self.message}")


@dataclass(kw_only=True, eq=False)
class FakeAnthropic:
    """The Messages API as one API key sees it; `api_key` is the only key it accepts."""

    api_key: str = field(default="sk-ant-test-key", repr=False)

    url: str = field(default="", init=False)
    requests: list[Recorded] = field(default_factory=list, init=False, repr=False)
    # Called with the request's JSON when nothing is queued; returns the forced tool's input.
    responder: Callable[[dict[str, Any]], dict[str, Any] | None] | None = field(
        default=None, init=False, repr=False
    )
    queue: list[Scripted] = field(default_factory=list, init=False, repr=False)
    # The model ids that exist; others are answered as the API does: 404 not_found_error with
    # the message "model: <id>". None: every id exists.
    models: frozenset[str] | None = field(default=None, init=False, repr=False)
    # Seconds a successful answer takes: a slow model.
    delay: float = field(default=0.0, init=False, repr=False)
    # Set while answers go out; cleared by hold(). `_held`: requests waiting for it now.
    _open: asyncio.Event = field(default_factory=_opened, init=False, repr=False)
    _held: int = field(default=0, init=False, repr=False)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition, init=False, repr=False)
    _stack: AsyncExitStack | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> FakeAnthropic:
        app = Starlette(
            routes=ROUTES,
            middleware=[Middleware(AnthropicWire, fake=self)],
            exception_handlers={ErrorReply: error_reply, HTTPException: starlette_error},
        )
        app.state.fake = self
        async with AsyncExitStack() as stack:
            self.url = await stack.enter_async_context(serving(app))
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Held requests answer before the server stops, rather than hang its shutdown.
        self.release()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    def hold(self) -> None:
        """Keep the answers of the requests that come from now on until release()."""
        self._open.clear()

    def release(self) -> None:
        """Let the held requests, and those to come, have their answers."""
        self._open.set()

    async def holding(self, count: int = 1) -> None:
        """Return once `count` requests wait for release(); the caller bounds the wait."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._held >= count)

    async def gate(self) -> None:
        """Wait, while held, for release() (the endpoint calls it before taking a reply)."""
        if self._open.is_set():
            return
        async with self._changed:
            self._held += 1
            self._changed.notify_all()
        try:
            await self._open.wait()
        finally:
            self._held -= 1

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The JSON bodies of the /v1/messages requests answered 200, in order."""
        return [r.json for r in self.requests if r.path == "/v1/messages" and r.status == 200]

    def reply_tool(
        self,
        name: str,
        input: dict[str, Any],
        *,
        input_tokens: int = 1200,
        output_tokens: int = 300,
        times: int = 1,
        stop_reason: str = "tool_use",
    ) -> None:
        """Queue a message calling tool `name` with `input` (sent as given, even when the request
        forces another tool or `input` breaks the tool's schema: a model misbehaving).
        stop_reason max_tokens: cut off mid-call, as when the budget ran out."""
        block = {"type": "tool_use", "name": name, "input": input}
        usage = (input_tokens, output_tokens)
        self._queue(Scripted(200, times, [block], stop_reason, usage))

    def reply_refusal(self, *, input_tokens: int = 1000, output_tokens: int = 20) -> None:
        """Queue a message the model declined to give: stop_reason refusal, no tool call."""
        block = {"type": "text", "text": "I can't help with that."}
        self._queue(Scripted(200, 1, [block], "refusal", (input_tokens, output_tokens)))

    def reply_text(self, text: str, *, input_tokens: int = 1000, output_tokens: int = 50) -> None:
        """Queue a message of one text block, stop_reason end_turn."""
        block = {"type": "text", "text": text}
        self._queue(Scripted(200, 1, [block], "end_turn", (input_tokens, output_tokens)))

    def reply_raw(
        self, status: int, body: bytes | dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> None:
        """Queue a verbatim reply: `body` as JSON when a dict, else as is; application/json
        unless `headers` give a content-type. request-id and rate-limit headers are added."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self._queue(Scripted(status, 1, raw=raw, headers=dict(headers or {})))

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Queue `times` error replies of Anthropic's type for `status` (429 rate_limit_error,
        529 overloaded_error, 500 api_error, 400, 401...). `retry_after` sets `retry-after` in
        seconds; fractions are sent as they are, which the SDK honours, but it treats 0 as absent
        and falls back to its own backoff."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, not {status}")
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        self._queue(Scripted(status, times, headers=headers))

    def _queue(self, entry: Scripted) -> None:
        if entry.times < 1:
            raise ValueError(f"times must be at least 1, not {entry.times}")
        self.queue.append(entry)

    # Used by the endpoint and AnthropicWire.

    def take(self) -> Scripted | None:
        if not self.queue:
            return None
        entry = self.queue[0]
        entry.times -= 1
        if entry.times == 0:
            self.queue.pop(0)
        return entry

    def wire_headers(self, request_id: str) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"request-id": request_id}
        for kind, limit in RATE_LIMITS.items():
            remaining = limit - len(self.requests) if kind == "requests" else limit
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(max(remaining, 0))
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        return headers


# Endpoint


async def create_message(request: Request) -> Response:
    fake: FakeAnthropic = request.app.state.fake
    authenticate(request, fake.api_key)
    if "anthropic-version" not in request.headers:
        raise ErrorReply(400, "anthropic-version: header is required")
    body = json_or_none(await request.body())
    forced = check_message_request(body)
    if fake.models is not None and body["model"] not in fake.models:
        raise ErrorReply(404, f"model: {body['model']}")
    limit = output_limit(body["model"])
    if limit is not None and body["max_tokens"] > limit:
        raise ErrorReply(
            400,
            f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed number"
            f" of output tokens for {body['model']}",
        )
    await fake.gate()
    entry = fake.take()
    if entry is None and fake.responder is not None:
        tool_input = fake.responder(body)
        if tool_input is not None:
            if forced is None:
                raise ErrorReply(500, "fake: responder answered a request that forces no tool")
            block = {"type": "tool_use", "name": forced, "input": tool_input}
            entry = Scripted(200, 1, [block], "tool_use", (1200, 300))
    if entry is None:
        raise ErrorReply(500, "fake: no scripted reply")
    if entry.raw is not None:
        return Response(entry.raw, entry.status, entry.headers, media_type="application/json")
    if entry.content is None:
        response = error_response(entry.status, error_type(entry.status)[1], request)
        response.headers.update(entry.headers)
        if entry.status == 429:
            response.headers["anthropic-ratelimit-requests-remaining"] = "0"
        return response
    content = [
        {**block, "id": new_id("toolu_01")} if block["type"] == "tool_use" else block
        for block in entry.content
    ]
    input_tokens, output_tokens = entry.usage
    if fake.delay:
        await asyncio.sleep(fake.delay)
    raw = {
        "id": new_id("msg_01"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": entry.stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
    # Through the SDK's own type: a shape it does not know fails here, in the test.
    message = anthropic.types.Message.model_validate(raw)
    if body.get("stream"):
        return StreamingResponse(sse(message), media_type="text/event-stream")
    return JSONReply(message.model_dump(mode="json", exclude_unset=True))


STREAM_EVENT: TypeAdapter[anthropic.types.RawMessageStreamEvent] = TypeAdapter(
    anthropic.types.RawMessageStreamEvent
)


def stream_events(message: anthropic.types.Message) -> list[dict[str, Any]]:
    """The message as the API streams it: message_start (no content yet), each block's start,
    deltas and stop, message_delta with the stop reason and output tokens, message_stop."""
    whole = message.model_dump(mode="json", exclude_unset=True)
    start = whole | {
        "content": [],
        "stop_reason": None,
        "usage": whole["usage"] | {"output_tokens": 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(whole["content"]):
        if block["type"] == "tool_use":
            opening = block | {"input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            opening = block | {"text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        events += [
            {"type": "content_block_start", "index": index, "content_block": opening},
            {"type": "content_block_delta", "index": index, "delta": delta},
            {"type": "content_block_stop", "index": index},
        ]
    events += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": whole["usage"]["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    # Each through the SDK's own event types.
    return [
        STREAM_EVENT.validate_python(e).model_dump(mode="json", exclude_unset=True) for e in events
    ]


async def sse(message: anthropic.types.Message) -> Any:
    for event in stream_events(message):
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


ROUTES = [Route("/v1/messages", create_message, methods=["POST"])]


def authenticate(request: Request, api_key: str) -> None:
    # The API takes the key as x-api-key; SDK 2.x sends it as `Authorization: Bearer`.
    given = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if given is None and scheme.lower() == "bearer":
        given = token
    if not given or not secrets.compare_digest(given.encode(), api_key.encode()):
        raise ErrorReply(401)


def check_message_request(body: Any) -> str | None:
    """Check what the API checks cheaply; returns the tool that tool_choice forces, if any."""
    if not isinstance(body, dict):
        raise ErrorReply(400, "fake: the body must be a JSON object")
    if not isinstance(body.get("model"), str):
        raise ErrorReply(400, "model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ErrorReply(400, "max_tokens: must be an integer of at least 1")
    if not isinstance(body.get("stream", False), bool):
        raise ErrorReply(400, "stream: Input should be a valid boolean")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ErrorReply(400, "messages: at least one message is required")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ErrorReply(400, f"messages.{n}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), str | list):
            raise ErrorReply(400, f"messages.{n}.content: Field required")
    tools = body.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "name" in t for t in tools):
        raise ErrorReply(400, "tools: each tool needs a name")
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise ErrorReply(400, "tool_choice: Input should be auto, any, tool or none")
    if not isinstance(choice.get("disable_parallel_tool_use", False), bool):
        raise ErrorReply(400, "tool_choice.disable_parallel_tool_use: Input should be a boolean")
    if choice["type"] != "tool":
        return None
    name = choice.get("name")
    if name not in {tool["name"] for tool in tools}:
        raise ErrorReply(400, f"tool_choice: Tool '{name}' not found in provided tools")
    return str(name)


# Wire: recording, Anthropic's headers, errors


class AnthropicWire:
    """Records every request and stamps request-id and the rate-limit headers on replies."""

    def __init__(self, app: ASGIApp, *, fake: FakeAnthropic) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        request = Request(scope)
        record = Recorded(
            method=request.method,
            # The decoded path as the server read it: Starlette's request.url re-parses it, so
            # a `%23` (a label `fix#12`) would turn into a fragment and cut the path there.
            path=scope["path"],
            headers=dict(request.headers),
            json=json_or_none(body),
        )
        self.fake.requests.append(record)
        request_id = new_id("req_011")
        scope.setdefault("state", {})["request_id"] = request_id
        stamped = self.fake.wire_headers(request_id)
        await self.app(scope, replaying(body, receive), stamping(send, record, stamped))


def error_type(status: int) -> tuple[str, str]:
    default = ERRORS[500] if status >= 500 else ERRORS[400]
    return ERRORS.get(status, default)


def error_response(status: int, message: str, request: Request) -> Response:
    error = {"type": error_type(status)[0], "message": message}
    body = {"type": "error", "error": error, "request_id": request.state.request_id}
    return JSONResponse(body, status_code=status)


async def error_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ErrorReply)
    return error_response(exc.status, exc.message, request)


async def starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), request)


def new_id(prefix: str) -> str:
    """Shaped like Anthropic's ids: msg_01..., toolu_01..., req_011..."""
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(22))
