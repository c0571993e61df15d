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

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The next log line containing `text`; fails if the process ends or time runs out."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"hookwise exited before {text!r}:\n{''.join(self.log)}")
            if text in line:
                return line

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
