"""The model: one forced tool call through the anthropic SDK, answered as checked JSON.

The SDK's own retries are off: it would sleep out a long retry-after inside the call. Instead
529 and 5xx answers and lost connections are retried here a few times with short backoff, and a
429 raises RateLimited (app/clients/errors.py), which reschedules the execution for when the
API takes requests again. An answer we cannot use (no tool call, missing fields, not even
JSON) is UnusableAnswer: retrying the same prompt will not mend it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anthropic

from app.clients.errors import RateLimited
from app.metrics import Metrics
from app.retry import backoff
from app.settings import Settings


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


@dataclass(frozen=True)
class Answer:
    input: dict[str, Any]
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


_TYPES = {
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
    def __init__(self, settings: Settings, *, metrics: Metrics | None = None) -> None:
        assert settings.anthropic_api_key is not None
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            max_retries=0,
            timeout=120.0,
        )
        self._tries = settings.anthropic_max_retries + 1
        self._retry_seconds = settings.anthropic_retry_seconds
        self._price_in = Decimal(str(settings.price_input_per_mtok))
        self._price_out = Decimal(str(settings.price_output_per_mtok))
        self._metrics = metrics or Metrics()

    async def close(self) -> None:
        await self._client.close()

    async def ask(
        self, *, model: str, max_tokens: int, system: str, prompt: str, tool: Tool
    ) -> Answer:
        """Ask with `tool` forced; the tool's input, checked against its schema."""
        response = await self._create(
            model=model,
            max_tokens=max_tokens,
            system=system,
            messages=[{"role": "user", "content": prompt}],
            tools=[tool.as_param()],
            tool_choice={"type": "tool", "name": tool.name},
        )
        used_in, used_out = response.usage.input_tokens, response.usage.output_tokens
        calls = [b for b in response.content if b.type == "tool_use" and b.name == tool.name]
        if not calls or not isinstance(calls[0].input, dict):
            raise UnusableAnswer(f"no {tool.name} call in the answer", used_in, used_out)
        try:
            check(calls[0].input, tool.input_schema)
        except ModelError as exc:
            raise UnusableAnswer(str(exc), used_in, used_out) from None
        return Answer(
            input=calls[0].input,
            model=response.model,
            input_tokens=used_in,
            output_tokens=used_out,
            cost_usd=self.cost(used_in, used_out),
        )

    async def _create(self, **request: Any) -> anthropic.types.Message:
        for attempt in range(1, self._tries + 1):
            try:
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
                raise UnusableAnswer(f"the API answered malformed JSON: {exc}", 0, 0) from None
            if not isinstance(response, anthropic.types.Message):
                self._metrics.model_requests.inc(status="malformed")
                raise UnusableAnswer("the API answered something other than a message", 0, 0)
            self._count(response)
            return response
        raise AssertionError("unreachable")

    def _count(self, response: anthropic.types.Message) -> None:
        self._metrics.model_requests.inc(status="200")
        tokens = self._metrics.model_tokens
        tokens.inc(response.usage.input_tokens, model=response.model, direction="input")
        tokens.inc(response.usage.output_tokens, model=response.model, direction="output")

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (input_tokens * self._price_in + output_tokens * self._price_out) / million


def _retry_at(exc: anthropic.APIStatusError) -> datetime:
    now = datetime.now(UTC)
    header = exc.response.headers.get("retry-after", "")
    try:
        return now + timedelta(seconds=max(float(header), 1.0))
    except ValueError:
        return now + timedelta(minutes=1)


class UnusableAnswer(ModelError):
    """The model answered, but not with what the tool asks; the tokens were spent all the same."""

    def __init__(self, message: str, input_tokens: int, output_tokens: int) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
