"""Ask the model once per execution: a retried attempt reuses the answer an earlier one paid for.

The answer is kept as soon as it arrives and forgotten when the execution completes (the
runner does that), so it outlives only attempts that failed after it (GitHub down while
posting the review). Another execution (a Re-analyse button, a new commit) asks afresh.

`paid` records an answer's spend where the daily budget counts it, once, as soon as it
arrives: before the answer is kept, so an attempt that stops between the two asks (and pays)
again rather than leaving a paid answer uncounted; never for an answer reused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.clients.anthropic import Answer
from app.reactions.context import ReactionContext
from app.store import answers


async def ask_once(
    ctx: ReactionContext,
    purpose: str,
    ask: Callable[[], Awaitable[Answer]],
    *,
    paid: Callable[[Answer], Awaitable[None]] | None = None,
) -> Answer:
    answer = await answers.get(ctx.conn, ctx.execution.id, purpose)
    if answer is not None:
        await ctx.step("model", f"reusing the model's answer from an earlier attempt ({purpose})")
        return answer
    answer = await ask()
    if paid is not None:
        await paid(answer)
    await answers.put(ctx.conn, ctx.execution.id, purpose, answer)
    await ctx.step(
        "model",
        f"{answer.model} answered ({purpose}): {answer.input_tokens} tokens in, "
        f"{answer.output_tokens} out, ${answer.cost_usd:.4f}",
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cost_usd=str(answer.cost_usd),
    )
    return answer
