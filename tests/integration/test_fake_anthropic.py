"""The fake Anthropic Messages API, driven by the official SDK as production drives it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import AsyncAnthropic

from tests.fakes.anthropic import FakeAnthropic

MODEL = "claude-sonnet-4-6"  # the SDK warns (an error here) on deprecated models
TOOL = {
    "name": "report",
    "description": "Report the analysis.",
    "input_schema": {
        "type": "object",
        "properties": {"category": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["category", "confidence"],
    },
}
FORCED = {"type": "tool", "name": "report"}
MESSAGES = [{"role": "user", "content": "Why did the check fail?"}]
# Short retry-after: the SDK honours it instead of its 0.5 s, 1 s... backoff.
QUICK = 0.01


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


def client(fake: FakeAnthropic, *, max_retries: int = 0, **options: Any) -> AsyncAnthropic:
    return AsyncAnthropic(
        api_key=fake.api_key, base_url=fake.url, max_retries=max_retries, **options
    )


async def ask(sdk: AsyncAnthropic, **params: Any) -> Any:
    async with sdk:
        arguments = {"model": MODEL, "max_tokens": 1024, "messages": MESSAGES, **params}
        return await sdk.messages.create(**arguments)


async def test_forced_tool_call_gets_the_scripted_input_and_usage(fake: FakeAnthropic) -> None:
    fake.reply_tool("report", {"category": "lint", "confidence": 0.9}, input_tokens=1500)

    message = await ask(client(fake), tools=[TOOL], tool_choice=FORCED)

    assert message.stop_reason == "tool_use"
    assert message.model == MODEL
    [block] = message.content
    assert (block.type, block.name, block.input) == (
        "tool_use",
        "report",
        {"category": "lint", "confidence": 0.9},
    )
    assert block.id.startswith("toolu_01")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1500, 300)
    assert message._request_id.startswith("req_")
    [call] = fake.calls
    assert call["tool_choice"] == FORCED and call["model"] == MODEL
    headers = fake.requests[0].headers
    assert headers["authorization"] == f"Bearer {fake.api_key}"  # SDK 2.x: not x-api-key
    assert "anthropic-version" in headers


async def test_text_reply_and_responder(fake: FakeAnthropic) -> None:
    fake.reply_text("All good.")
    fake.responder = lambda body: {"category": body["messages"][0]["content"], "confidence": 1}

    text = await ask(client(fake))
    tool = await ask(client(fake), tools=[TOOL], tool_choice=FORCED)

    assert (text.stop_reason, text.content[0].text) == ("end_turn", "All good.")
    assert tool.content[0].input == {"category": MESSAGES[0]["content"], "confidence": 1}


async def test_a_misbehaving_model_is_answered_as_scripted(fake: FakeAnthropic) -> None:
    fake.reply_tool("other", {"nonsense": True})

    message = await ask(client(fake), tools=[TOOL], tool_choice=FORCED)

    assert (message.content[0].name, message.content[0].input) == ("other", {"nonsense": True})


async def test_a_held_answer_waits_for_release(fake: FakeAnthropic) -> None:
    fake.reply_text("first")
    fake.reply_text("second")
    fake.hold()

    asked = asyncio.create_task(ask(client(fake)))
    await asyncio.wait_for(fake.holding(1), 10)
    # Recorded, not answered: the client still waits.
    assert [r.status for r in fake.requests] == [0] and not asked.done()
    fake.release()

    assert (await asyncio.wait_for(asked, 10)).content[0].text == "first"
    assert (await ask(client(fake))).content[0].text == "second"


async def test_overloaded_then_success_is_retried(fake: FakeAnthropic) -> None:
    fake.fail(529, retry_after=QUICK)
    fake.reply_tool("report", {"category": "flaky", "confidence": 0.5})

    message = await ask(client(fake, max_retries=2), tools=[TOOL], tool_choice=FORCED)

    assert message.content[0].input["category"] == "flaky"
    assert [r.status for r in fake.requests] == [529, 200]
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]
    assert len(fake.calls) == 1


async def test_rate_limited_with_retry_after_zero_is_retried_after_backoff(
    fake: FakeAnthropic,
) -> None:
    fake.fail(429, retry_after=0)
    fake.reply_text("done")

    message = await ask(client(fake, max_retries=1))

    assert message.content[0].text == "done"
    first, second = fake.requests
    assert (first.status, second.status) == (429, 200)
    # retry-after: 0 counts as absent: the SDK waits its first backoff, 0.5 s less up to 25%.
    assert second.at - first.at >= 0.3


async def test_retries_run_out(fake: FakeAnthropic) -> None:
    fake.fail(529, times=3, retry_after=QUICK)

    with pytest.raises(anthropic.OverloadedError) as raised:
        await ask(client(fake, max_retries=2))

    assert [r.status for r in fake.requests] == [529, 529, 529]
    assert raised.value.type == "overloaded_error"


@pytest.mark.parametrize(
    ("status", "error", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
async def test_injected_errors_raise_the_sdk_exception(
    fake: FakeAnthropic, status: int, error: type[anthropic.APIStatusError], error_type: str
) -> None:
    fake.fail(status, retry_after=30)

    with pytest.raises(error) as raised:
        await ask(client(fake))

    assert raised.value.type == error_type
    assert raised.value.request_id is not None and raised.value.request_id.startswith("req_011")
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["request_id"] == raised.value.request_id
    assert raised.value.response.headers["retry-after"] == "30"
    remaining = raised.value.response.headers["anthropic-ratelimit-requests-remaining"]
    assert (remaining == "0") == (status == 429)


async def test_malformed_json_raises_a_bare_json_error_not_retried(fake: FakeAnthropic) -> None:
    fake.reply_raw(200, b'{"id": "msg_01", "type": "mess')
    fake.reply_text("never reached")

    with pytest.raises(json.JSONDecodeError):
        await ask(client(fake, max_retries=2))

    assert len(fake.requests) == 1


async def test_non_json_and_schema_breaking_replies(fake: FakeAnthropic) -> None:
    fake.reply_raw(200, b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    fake.reply_raw(200, {"type": "message", "content": "not a list"})
    fake.reply_raw(200, {"type": "message", "content": "not a list"})

    # Without strict validation the SDK returns the text, and a message it did not validate.
    assert await ask(client(fake)) == "<html>bad gateway</html>"
    assert (await ask(client(fake))).content == "not a list"
    with pytest.raises(anthropic.APIResponseValidationError):
        await ask(client(fake, _strict_response_validation=True))


async def test_wrong_api_key_is_refused_without_using_the_queue(fake: FakeAnthropic) -> None:
    fake.reply_text("for the right key")
    wrong = AsyncAnthropic(api_key="sk-ant-wrong", base_url=fake.url, max_retries=2)

    with pytest.raises(anthropic.AuthenticationError) as raised:
        await ask(wrong)

    assert raised.value.api_message == "invalid x-api-key"
    assert [r.status for r in fake.requests] == [401]  # not retried
    assert (await ask(client(fake))).content[0].text == "for the right key"


async def test_tool_choice_naming_an_unknown_tool_is_a_bad_request(fake: FakeAnthropic) -> None:
    fake.reply_tool("report", {})
    unknown = {"type": "tool", "name": "missing"}

    with pytest.raises(anthropic.BadRequestError, match="'missing' not found"):
        await ask(client(fake, max_retries=2), tools=[TOOL], tool_choice=unknown)

    assert [r.status for r in fake.requests] == [400]
    assert fake.calls == [] and len(fake.queue) == 1


async def test_max_tokens_past_the_models_output_limit_is_a_bad_request(
    fake: FakeAnthropic,
) -> None:
    fake.reply_tool("report", {"category": "lint", "confidence": 1})
    model = "claude-opus-4-1-20250805"

    with pytest.raises(anthropic.BadRequestError) as raised:
        await ask(
            client(fake, timeout=30),
            model=model,
            max_tokens=32_001,
            tools=[TOOL],
            tool_choice=FORCED,
        )
    assert raised.value.body["error"] == {
        "type": "invalid_request_error",
        "message": f"max_tokens: 32001 > 32000, which is the maximum allowed number of output"
        f" tokens for {model}",
    }
    assert len(fake.queue) == 1
    answered = await ask(
        client(fake, timeout=30), model=model, max_tokens=32_000, tools=[TOOL], tool_choice=FORCED
    )
    assert answered.stop_reason == "tool_use"


async def test_nothing_scripted_is_a_loud_500(fake: FakeAnthropic) -> None:
    with pytest.raises(anthropic.InternalServerError, match="fake: no scripted reply"):
        await ask(client(fake))


async def test_raw_http_checks_key_version_and_shape(fake: FakeAnthropic) -> None:
    fake.reply_text("hi")
    body = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}
    version = {"anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=fake.url) as http:
        no_version = await http.post("/v1/messages", json=body, headers={"x-api-key": fake.api_key})
        keyed = {"x-api-key": fake.api_key, **version}
        empty = await http.post("/v1/messages", json={**body, "messages": []}, headers=keyed)
        zero = await http.post("/v1/messages", json={**body, "max_tokens": 0}, headers=keyed)
        ok = await http.post("/v1/messages", json=body, headers=keyed)
        unknown = await http.get("/v1/models", headers=keyed)

    statuses = [r.status_code for r in (no_version, empty, zero, ok, unknown)]
    assert statuses == [400, 400, 400, 200, 404]
    assert no_version.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    assert ok.json()["usage"] == {
        "input_tokens": 1000,
        "output_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }
    assert ok.headers["request-id"].startswith("req_011")
    assert ok.headers["anthropic-ratelimit-tokens-limit"] == "480000"
    assert unknown.json()["error"]["type"] == "not_found_error"
