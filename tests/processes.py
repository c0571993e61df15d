"""hookwise as a real child process: the console script, its environment, and its log.

Its log is read as hookwise writes it to a pipe: one JSON object a line (app/logs.py). Tests wait
on a line's `action` and fields (`Logged`), never on its wording, which is for people.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOOKWISE = str(Path(sys.executable).parent / "hookwise")
OURS = ("HOOKWISE_", "GITHUB_", "LINEAR_", "DATABASE_URL", "HOST", "PORT", "WEB_CONCURRENCY")


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any hookwise setting, plus `values`; `serve` runs
    as one process (web and worker together) unless `values` asks for more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    # No .env of the developer's: a test's settings are only what it says.
    return env | {"HOOKWISE_ENV_FILE": os.devnull, "HOOKWISE_WEB_PROCESSES": "1"} | values


def hookwise(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [HOOKWISE, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def record(line: str) -> dict[str, Any] | None:
    """A log line as its JSON object; None for a line that is none (a traceback's, a crash's)."""
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class Logged:
    """A structured log line to wait for: its `action`, and the values of some of its fields.

    Logged.of("event_completed", event="pull_request", event_action="opened")
    """

    action: str
    fields: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, action: str, **fields: Any) -> Logged:
        return cls(action, tuple(sorted(fields.items())))

    def matches(self, line: str | Mapping[str, Any] | None) -> bool:
        found = record(line) if isinstance(line, str) else line
        if found is None or found.get("action") != self.action:
            return False
        return all(found.get(name) == value for name, value in self.fields)

    def count(self, lines: Iterable[str]) -> int:
        return sum(self.matches(line) for line in lines)

    def __str__(self) -> str:
        said = ", ".join(f"{name}={value!r}" for name, value in self.fields)
        return f"{self.action}({said})"


class Served:
    """A long-running hookwise command (serve, worker) whose log lines are read as they come.

    Several processes may share one `lines` queue, to wait on what any of them logs; each
    keeps its own whole `log`.
    """

    def __init__(
        self,
        *args: str,
        env: dict[str, str],
        command: str = "serve",
        lines: queue.Queue[str | None] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [HOOKWISE, command, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = lines if lines is not None else queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr as stream:
            for line in stream:
                self.log.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, action: str, *, timeout: float = 60, **fields: Any) -> dict[str, Any]:
        """The next log line with this `action` and these field values, as its JSON object;
        fails if the process ends or time runs out."""
        wanted = Logged.of(action, **fields)
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"hookwise exited before {wanted}:\n{''.join(self.log)}")
            found = record(line)
            if wanted.matches(found):
                assert found is not None
                return found

    def records(self) -> list[dict[str, Any]]:
        """Every line logged so far that is a JSON object."""
        return [found for line in self.log if (found := record(line)) is not None]

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        """Send `sig`, wait for the exit, and return its code once the log is complete."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        return code

    def interrupt(self, timeout: float = 60) -> int:
        return self.stop(signal.SIGINT, timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
