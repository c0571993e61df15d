"""What a reaction gets: its execution, the payload that started it, the app, a log, a database.

The database is `PerStatement`: each query takes a pooled connection for itself and gives it
back at once, so a reaction never holds a connection (let alone a transaction) while it waits
on GitHub, Linear or the model, and never takes a second connection while holding one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.store import executions, repositories
from app.store.executions import Execution
from app.store.pool import Queries

if TYPE_CHECKING:
    from app.clients.github_port import RepoPort
    from app.context import Context
    from app.repo_config import RepoConfig
    from app.settings import Settings


@dataclass(frozen=True)
class ReactionContext:
    execution: Execution
    payload: Mapping[str, Any]
    app: Context
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False)
    # Each call is its own statement: the store functions a reaction calls take `Queries`.
    conn: Queries = field(repr=False)

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def event_id(self) -> UUID | None:
        """The event that started this execution, for outbound_actions' bookkeeping."""
        return self.execution.event_id

    async def github(self, repo: str) -> RepoPort:
        """`repo`'s GitHub operations as the payload's installation (app/clients/github_port.py).
        Raises RuntimeError without a GitHub App (the runner cancels such executions first)."""
        ports = self.app.github_ports()
        if ports is None:
            raise RuntimeError("the GitHub App is not configured")
        installation = self.payload["installation"]
        if isinstance(installation, Mapping):  # a webhook's payload; a declared run's is the id
            installation = installation["id"]
        return await ports.repo_port(int(installation), repo)

    async def repo_config(self, repo: str) -> RepoConfig:
        """`repo`'s configuration: settings, the owner's file, the override set on /admin,
        the repository's own file (app/repo_config.py)."""
        override = await repositories.config_override(self.conn, repo)
        return await self.app.configs.load(
            self.github, self.settings.reactions, repo=repo, override=override
        )

    async def step(self, step: str, message: str, *, level: str = "INFO", **metadata: Any) -> None:
        """One line of execution_logs: what the reaction did (diff fetched, model asked, …)."""
        self.log.info("%s: %s", step, message)
        await executions.log(
            self.conn,
            self.execution.id,
            level,
            message,
            step=step,
            metadata=metadata or None,
        )
