"""Fakes of the services hookwise talks to: real HTTP servers on loopback with in-memory state.

Each fake is a Starlette app on uvicorn, served in the test's own event loop on 127.0.0.1 at a free
port (tests.harness.serving); production code reaches it only through a base URL, as it would the
real service.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


class JSONReply(JSONResponse):
    """JSON as Starlette writes it (UTF-8, not escaped); a string holding a lone surrogate, which
    has no UTF-8, is written as JSON can only write it: escaped (`\\ud800`), as a service whose
    answer holds one sends it."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()
