"""A server under test as a child process, for the benchmarks: a free port, an environment
without the caller's hookwise settings, ready when /readyz answers 200, stopped as Ctrl-C would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.processes import stop_timeout
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhooks/github"
READY_TIMEOUT = 120.0
# Longer than the server gives itself to stop: its supervisor waits up to stop_timeout() for
# its processes (a worker's grace for its events in flight, then releasing the rest), then
# stops its embedded PostgreSQL, whose shutdown checkpoint writes what a large backlog left
# dirty. 30 s killed a server with its worker apart still stopping (-9).
STOP_TIMEOUT = stop_timeout(Settings()) + 60.0
# The caller's hookwise settings must not leak into the servers under test.
OUR_PREFIXES = ("HOOKWISE_", "GITHUB_", "LINEAR_", "BENCH_")
OUR_NAMES = ("DATABASE_URL", "HOST", "PORT", "WEB_CONCURRENCY")


class BenchError(Exception):
    """The benchmark could not run."""


@dataclass
class Server:
    """A server under test, running as a child process."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    exit_code: int | None = None

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def hookwise_command() -> str:
    # The hookwise beside this Python first: the one installed with the code under test.
    here = str(Path(sys.executable).parent)
    found = shutil.which("hookwise", path=here) or shutil.which("hookwise")
    if found is None:
        raise BenchError("the hookwise command is not installed: pip install -e .")
    return found


def clean_environment(**values: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(OUR_PREFIXES) and name not in OUR_NAMES
    }
    return env | values


QUIET_LEVELS = frozenset({"debug", "info"})


def warning_lines(path: Path) -> list[str]:
    """The lines of a server's log at WARNING or above: hookwise writes JSON lines at its
    default level (INFO) to a file, and anything not a JSON line (a traceback on stderr, a
    library's own output) counts too."""
    found = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else ():
        try:
            level = json.loads(line).get("level")
        except (ValueError, AttributeError):
            level = None
        if level not in QUIET_LEVELS:
            found.append(line)
    return found


def log_tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A process's memory figure from /proc (Linux): VmRSS now, VmHWM its peak; 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    url = server.base_url + "/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise BenchError(
                f"{server.name} exited with {code} before it was ready:\n{log_tail(server.log)}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{server.name} was not ready after {timeout:.0f} s:\n{log_tail(server.log)}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGINT, as Ctrl-C would: hookwise finishes its requests, closes its pool and stops its
    embedded PostgreSQL itself."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def running(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    workdir: Path,
    *,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Start `command`, wait until it is ready, and stop it on the way out (its exit code in
    `exit_code`); its output goes to `workdir`/`name`.log."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, process, f"http://{HOST}:{port}", log)
    try:
        wait_ready(server)
        yield server
    finally:
        server.exit_code = stop(process)
