"""The model: one forced tool call through the anthropic SDK, answered as checked JSON.

The SDK's own retries are off: it would sleep out a long retry-after inside the call. Instead
529 and 5xx answers and lost connections are retried here a few times with short backoff, and a
429 raises RateLimited (app/clients/errors.py), which reschedules the execution for when the
API takes requests again. An answer we cannot use (no tool call, missing fields, not even
JSON) is UnusableAnswer: retrying the same prompt will not mend it. Its kinds, by the answer's
`stop_reason` (https://docs.anthropic.com/en/api/handling-stop-reasons):

    UnusableAnswer      the tokens were spent; nothing usable came back
     ├── Truncated      stop_reason max_tokens, even after one retry with twice the budget
     └── Declined       stop_reason refusal: the model would not answer

The tool's input and the model's name are made storable (app/text.py: U+0000 dropped, a lone
surrogate U+FFFD) before they are checked, stored or posted.

Budgets above STREAM_ABOVE tokens are streamed, as the SDK advises for long answers (a
non-streaming call must finish within one HTTP read timeout); the execution's lease is kept
alive by the runner meanwhile. Each answer's cost uses the price of the model that answered.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anthropic

from app.clients import guard
from app.clients.errors import RateLimited
from app.metrics import Metrics
from app.retry import backoff
from app.settings import ModelSettings
from app.text import storable, storable_json


class ModelError(Exception):
    """The model's answer could not be used."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]

    def as_param(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }


# Output tokens the models take at most: a retry after max_tokens asks for no more than this.
MAX_OUTPUT_TOKENS = 64_000
# Larger budgets are streamed.
STREAM_ABOVE = 16_000
# USD per million tokens (input, output) by model-name prefix, the longest prefix winning, from
# https://docs.anthropic.com/en/docs/about-claude/pricing; HOOKWISE_MODEL_PRICES overrides them
# and HOOKWISE_PRICE_INPUT / _OUTPUT price a model not listed.
PRICES: dict[str, tuple[str, str]] = {
    "claude-opus-4-5": ("5", "25"),
    "claude-opus-4-1": ("15", "75"),
    "claude-opus-4": ("15", "75"),
    "claude-sonnet-4": ("3", "15"),
    "claude-3-7-sonnet": ("3", "15"),
    "claude-haiku-4-5": ("1", "5"),
    "claude-3-5-haiku": ("0.8", "4"),
}


def price(model: str, table: dict[str, tuple[str, str]]) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per million tokens for `model`: the longest prefix in `table`."""
    best = max((p for p in table if model.startswith(p)), key=len, default=None)
    if best is None:
        return None
    given_in, given_out = table[best]
    return Decimal(str(given_in)), Decimal(str(given_out))


@dataclass(frozen=True)
class Answer:
    input: dict[str, Any]
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def check(value: Any, schema: dict[str, Any], where: str = "input") -> None:
    """The few JSON-schema rules our tools use: type, required, properties, items, enum."""
    expected = _TYPES.get(schema.get("type", ""))
    if expected is not None and (
        not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    ):
        raise ModelError(f"{where} should be {schema['type']}")
    if "enum" in schema and value not in schema["enum"]:
        raise ModelError(f"{where} should be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise ModelError(f"{where} lacks {key}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(item, schema["items"], f"{where}[{index}]")


def _status(exc: anthropic.APIError) -> str:
    return str(exc.status_code) if isinstance(exc, anthropic.APIStatusError) else "error"


class Model:
    def __init__(self, settings: ModelSettings, *, metrics: Metrics | None = None) -> None:
        assert settings.api_key is not None
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url,
            max_retries=0,
            timeout=120.0,
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=guard.hooks()),
        )
        self._tries = settings.max_retries + 1
        self._retry_seconds = settings.retry_seconds
        self._prices = PRICES | {k: (str(i), str(o)) for k, (i, o) in settings.prices.items()}
        self._fallback = (
            Decimal(str(settings.price_input_per_mtok)),
            Decimal(str(settings.price_output_per_mtok)),
        )
        self._metrics = metrics or Metrics()

    async def close(self) -> None:
        await self._client.close()

    async def ask(
        self, *, model: str, max_tokens: int, system: str, prompt: str, tool: Tool
    ) -> Answer:
        """Ask with `tool` forced (one call: parallel tool use off); the tool's input, checked
        against its schema. An answer cut at `max_tokens` is asked again once with twice the
        budget (at most MAX_OUTPUT_TOKENS, or the most the model takes when the API says that
        is less). Raises UnusableAnswer (Truncated, Declined), RateLimited, and the SDK's
        APIStatusError for a refusal of the request."""
        request = {
            "model": model,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
            "tools": [tool.as_param()],
            "tool_choice": {"type": "tool", "name": tool.name, "disable_parallel_tool_use": True},
        }
        budget = max_tokens
        response = await self._create(**request, max_tokens=budget)
        spent = (response.usage.input_tokens, response.usage.output_tokens)
        if response.stop_reason == "max_tokens" and budget < MAX_OUTPUT_TOKENS:
            larger = min(2 * budget, MAX_OUTPUT_TOKENS)
            try:
                retried = await self._create(**request, max_tokens=larger)
            except anthropic.BadRequestError as exc:
                # The first call, the same but for max_tokens, was taken: this refusal is of
                # the larger budget. The model's own limit, when the API names it, is asked for
                # once; else the first answer stands as cut, and paid for.
                ceiling = _output_ceiling(exc)
                if ceiling is None or ceiling <= budget:
                    used_in, used_out = spent
                    why = f"the answer was cut at max_tokens ({budget}): " + (
                        f"{model} takes at most {ceiling} output tokens"
                        if ceiling is not None
                        else f"a larger budget was refused ({exc.message})"
                    )
                    cost = self.cost(response.model, used_in, used_out)
                    raise Truncated(why, used_in, used_out, cost) from None
                larger = ceiling
                retried = await self._create(**request, max_tokens=larger)
            response, budget = retried, larger
            spent = (
                spent[0] + response.usage.input_tokens,
                spent[1] + response.usage.output_tokens,
            )
        return self._answer(response, tool, spent, budget)

    def _answer(
        self, response: anthropic.types.Message, tool: Tool, spent: tuple[int, int], budget: int
    ) -> Answer:
        used_in, used_out = spent
        cost = self.cost(response.model, used_in, used_out)
        if response.stop_reason == "refusal":
            raise Declined(
                "the model declined to answer (stop_reason refusal)", used_in, used_out, cost
            )
        calls = [b for b in response.content if b.type == "tool_use" and b.name == tool.name]
        if response.stop_reason == "max_tokens":
            why = f"the answer was cut at max_tokens ({budget}): raise max_tokens"
            raise Truncated(why, used_in, used_out, cost)
        if not calls or not isinstance(calls[0].input, dict):
            raise UnusableAnswer(f"no {tool.name} call in the answer", used_in, used_out, cost)
        # Stored (model_answers, reviews, analyses) and posted: made storable here, once.
        given = storable_json(calls[0].input)
        try:
            check(given, tool.input_schema)
        except ModelError as exc:
            raise UnusableAnswer(str(exc), used_in, used_out, cost) from None
        return Answer(
            input=given,
            model=storable(response.model),
            input_tokens=used_in,
            output_tokens=used_out,
            cost_usd=cost,
        )

    async def _create(self, **request: Any) -> anthropic.types.Message:
        for attempt in range(1, self._tries + 1):
            try:
                if request["max_tokens"] > STREAM_ABOVE:
                    async with self._client.messages.stream(**request) as stream:
                        response = await stream.get_final_message()
                else:
                    response = await self._client.messages.create(**request)
            except anthropic.RateLimitError as exc:
                self._metrics.model_requests.inc(status=_status(exc))
                raise RateLimited("Anthropic", _retry_at(exc)) from exc
            except (anthropic.InternalServerError, anthropic.APIConnectionError) as exc:
                self._metrics.model_requests.inc(status=_status(exc))
                if attempt == self._tries:
                    raise
                await asyncio.sleep(backoff(attempt, base=self._retry_seconds, cap=10.0))
                continue
            except anthropic.APIStatusError as exc:
                self._metrics.model_requests.inc(status=_status(exc))
                raise
            except json.JSONDecodeError as exc:  # the SDK parses bodies without a guard
                self._metrics.model_requests.inc(status="malformed")
                why = f"the API answered malformed JSON: {exc}"
                raise UnusableAnswer(why, 0, 0, Decimal(0)) from None
            if not isinstance(response, anthropic.types.Message):
                self._metrics.model_requests.inc(status="malformed")
                why = "the API answered something other than a message"
                raise UnusableAnswer(why, 0, 0, Decimal(0))
            self._count(response)
            return response
        raise AssertionError("unreachable")

    def _count(self, response: anthropic.types.Message) -> None:
        self._metrics.model_requests.inc(status="200")
        tokens = self._metrics.model_tokens
        tokens.inc(response.usage.input_tokens, model=response.model, direction="input")
        tokens.inc(response.usage.output_tokens, model=response.model, direction="output")

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """USD for these tokens at `model`'s price (PRICES, HOOKWISE_MODEL_PRICES, else
        HOOKWISE_PRICE_INPUT / _OUTPUT)."""
        price_in, price_out = price(model, self._prices) or self._fallback
        return (input_tokens * price_in + output_tokens * price_out) / Decimal(1_000_000)


# Anthropic's 400 for a budget past the model's limit: "max_tokens: 64000 > 32000, which is the
# maximum allowed number of output tokens for claude-opus-4-1-20250805".
OUTPUT_CEILING = re.compile(r"max_tokens: \d+ > (\d+), which is the maximum allowed")


def _output_ceiling(exc: anthropic.APIStatusError) -> int | None:
    """The most output tokens the model takes, when the API's refusal names it."""
    found = OUTPUT_CEILING.search(str(exc.message))
    return int(found[1]) if found else None


def _retry_at(exc: anthropic.APIStatusError) -> datetime:
    now = datetime.now(UTC)
    header = exc.response.headers.get("retry-after", "")
    try:
        return now + timedelta(seconds=max(float(header), 1.0))
    except ValueError:
        return now + timedelta(minutes=1)


class UnusableAnswer(ModelError):
    """The model answered, but not with what the tool asks; the tokens were spent all the same."""

    def __init__(
        self, message: str, input_tokens: int, output_tokens: int, cost_usd: Decimal
    ) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd


class Truncated(UnusableAnswer):
    """stop_reason max_tokens: the answer was cut off, even with the larger budget."""


class Declined(UnusableAnswer):
    """stop_reason refusal: the model declined to answer."""
