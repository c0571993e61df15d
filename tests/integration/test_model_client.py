"""hookwise's model client (app/clients/anthropic.py) against the fake Messages API: stop
reasons, one tool call, streaming for long answers, and the price of the model that answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from app.clients.anthropic import Declined, Model, Tool, Truncated, price
from app.settings import Settings
from tests.fakes.anthropic import FakeAnthropic

TOOL = Tool(
    "report",
    "Report the analysis.",
    {
        "type": "object",
        "properties": {"category": {"type": "string"}},
        "required": ["category"],
    },
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def model(fake: FakeAnthropic, tmp_path: Path) -> AsyncIterator[Model]:
    settings = Settings().with_env(
        HOOKWISE_DATA_DIR=tmp_path,
        ANTHROPIC_API_KEY=fake.api_key,
        ANTHROPIC_BASE_URL=fake.url,
        HOOKWISE_ANTHROPIC_RETRY_SECONDS=0.01,
        HOOKWISE_MODEL_PRICES={"claude-sonnet-4-6": (2.0, 10.0)},
    )
    model = Model(settings.model)
    yield model
    await model.close()


async def ask(model: Model, *, name: str = "claude-sonnet-4-6", max_tokens: int = 1024):
    return await model.ask(model=name, max_tokens=max_tokens, system="s", prompt="p", tool=TOOL)


async def test_one_tool_call_is_asked_for(fake: FakeAnthropic, model: Model) -> None:
    fake.reply_tool("report", {"category": "lint"})
    answer = await ask(model)
    assert answer.input == {"category": "lint"}
    [sent] = fake.calls
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "report",
        "disable_parallel_tool_use": True,
    }
    assert "stream" not in sent


async def test_an_answer_cut_at_max_tokens_is_asked_again_once_with_twice_the_budget(
    fake: FakeAnthropic, model: Model
) -> None:
    fake.reply_tool("report", {}, stop_reason="max_tokens", input_tokens=1000, output_tokens=1024)
    fake.reply_tool("report", {"category": "lint"}, input_tokens=1000, output_tokens=1500)
    answer = await ask(model)
    assert answer.input == {"category": "lint"}
    assert [call["max_tokens"] for call in fake.calls] == [1024, 2048]
    # Both calls were paid for.
    assert (answer.input_tokens, answer.output_tokens) == (2000, 2524)
    assert answer.cost_usd == (2000 * Decimal(2) + 2524 * Decimal(10)) / 1_000_000


async def test_an_answer_cut_twice_is_reported_as_truncated(
    fake: FakeAnthropic, model: Model
) -> None:
    fake.reply_tool("report", {}, stop_reason="max_tokens", times=2, output_tokens=1024)
    with pytest.raises(Truncated, match=r"cut at max_tokens \(2048\): raise max_tokens") as cut:
        await ask(model)
    assert cut.value.output_tokens == 2048
    assert cut.value.cost_usd > 0


async def test_a_retry_past_the_models_output_limit_asks_for_that_limit(
    fake: FakeAnthropic, model: Model
) -> None:
    # Opus 4.1 takes 32,000 output tokens at most: twice 20,000 is refused (400), not paid.
    opus = "claude-opus-4-1-20250805"
    fake.reply_tool("report", {}, stop_reason="max_tokens", input_tokens=900, output_tokens=20_000)
    fake.reply_tool("report", {"category": "lint"}, input_tokens=900, output_tokens=25_000)
    answer = await ask(model, name=opus, max_tokens=20_000)
    assert answer.input == {"category": "lint"}
    assert [call["max_tokens"] for call in fake.calls] == [20_000, 32_000]
    assert (answer.input_tokens, answer.output_tokens) == (1800, 45_000)


async def test_an_answer_cut_at_the_models_output_limit_is_truncated_and_paid_for(
    fake: FakeAnthropic, model: Model
) -> None:
    opus = "claude-opus-4-1-20250805"
    fake.reply_tool("report", {}, stop_reason="max_tokens", input_tokens=900, output_tokens=32_000)
    with pytest.raises(Truncated, match=r"cut at max_tokens \(32000\)") as cut:
        await ask(model, name=opus, max_tokens=32_000)
    assert "at most 32000 output tokens" in str(cut.value)
    assert (cut.value.input_tokens, cut.value.output_tokens) == (900, 32_000)
    assert cut.value.cost_usd > 0


async def test_a_refusal_is_reported_as_declined(fake: FakeAnthropic, model: Model) -> None:
    fake.reply_refusal(input_tokens=900, output_tokens=12)
    with pytest.raises(Declined, match="declined to answer") as declined:
        await ask(model)
    assert (declined.value.input_tokens, declined.value.output_tokens) == (900, 12)
    assert len(fake.calls) == 1


async def test_a_long_budget_is_streamed(fake: FakeAnthropic, model: Model) -> None:
    fake.reply_tool("report", {"category": "types"}, input_tokens=3000, output_tokens=700)
    answer = await ask(model, max_tokens=32_000)
    assert answer.input == {"category": "types"}
    assert (answer.input_tokens, answer.output_tokens) == (3000, 700)
    [sent] = fake.calls
    assert sent["stream"] is True


async def test_each_model_is_priced_as_itself(fake: FakeAnthropic, model: Model) -> None:
    fake.reply_tool("report", {"category": "lint"}, input_tokens=1_000_000, output_tokens=0)
    answer = await ask(model, name="claude-opus-4-1-20250805")
    assert (answer.model, answer.cost_usd) == ("claude-opus-4-1-20250805", Decimal(15))
    assert model.cost("claude-haiku-4-5", 0, 1_000_000) == Decimal(5)
    # The settings' own price for a model wins; a model nobody priced takes the fallback.
    assert model.cost("claude-sonnet-4-6", 1_000_000, 0) == Decimal(2)
    assert model.cost("someone-elses-model", 1_000_000, 1_000_000) == Decimal(18)
    assert price("claude-sonnet-4-5", {"claude-sonnet-4": ("3", "15")}) == (3, 15)
