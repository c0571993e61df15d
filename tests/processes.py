"""hookwise as a real child process: the console script, its environment, and its log."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

HOOKWISE = str(Path(sys.executable).parent / "hookwise")
OURS = ("HOOKWISE_", "GITHUB_", "LINEAR_", "DATABASE_URL", "HOST", "PORT")


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any hookwise setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return env | values


def hookwise(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [HOOKWISE, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


class Served:
    """`hookwise serve` in the background; its log lines are read as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [HOOKWISE, "serve", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr as stream:
            for line in stream:
                self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first log line containing `text`; fails if the process ends or time runs out."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"hookwise exited before {text!r}:\n{''.join(self.log)}")
            self.log.append(line)
            if text in line:
                return line

    def interrupt(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.log.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
