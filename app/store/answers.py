"""Queries on `model_answers`: a model's answer kept until the execution that asked succeeds."""

from __future__ import annotations

import uuid

from app.clients.anthropic import Answer
from app.store.pool import Queries

GET = """
SELECT answer, model, input_tokens, output_tokens, cost_usd FROM model_answers
WHERE execution_id = $1 AND purpose = $2
"""
PUT = """
INSERT INTO model_answers
    (execution_id, purpose, answer, model, input_tokens, output_tokens, cost_usd)
VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
ON CONFLICT (execution_id, purpose) DO NOTHING
"""
FORGET = "DELETE FROM model_answers WHERE execution_id = $1"


async def get(conn: Queries, execution_id: uuid.UUID, purpose: str) -> Answer | None:
    row = await conn.fetchrow(GET, execution_id, purpose)
    if row is None:
        return None
    return Answer(
        input=row["answer"],
        model=row["model"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
    )


async def put(conn: Queries, execution_id: uuid.UUID, purpose: str, answer: Answer) -> None:
    await conn.execute(
        PUT,
        execution_id,
        purpose,
        answer.input,
        answer.model,
        answer.input_tokens,
        answer.output_tokens,
        answer.cost_usd,
    )


async def forget(conn: Queries, execution_id: uuid.UUID) -> None:
    """Drop every answer of an execution that succeeded."""
    await conn.execute(FORGET, execution_id)
