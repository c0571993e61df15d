"""Settings: the README's configuration table is what the sections read, every variable keeps
its name, modes are checked, and secrets stay out of reprs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import ConfigurationError, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# Read by the CLI itself (which file the settings come from), not a setting.
NOT_A_SETTING = {"HOOKWISE_ENV_FILE"}


def documented() -> set[str]:
    """The variable names in the first column of the README's configuration table."""
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            first = row.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def test_every_documented_variable_is_read_and_every_setting_is_documented() -> None:
    sections = Settings().sections()
    read = {name for section in sections for name in type(section).env_names()}
    assert documented() - NOT_A_SETTING <= read
    first_names = {
        type(section).env_name(field)
        for section in sections
        for field in type(section).model_fields
    }
    assert first_names <= documented()


def test_an_env_file_configures_each_section_by_the_documented_names(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "HOOKWISE_DATABASE_URL=postgresql://hookwise:pw@db.internal/hookwise\n"
        "PORT=8080\n"
        "WEB_CONCURRENCY=3\n"
        "HOOKWISE_WORKER_PROCESSES=2\n"
        "GITHUB_WEBHOOK_SECRET=new-secret, old-secret\n"
        "HOOKWISE_POLL_INTERVAL=0.5\n"
        "HOOKWISE_GITHUB_WRITE_INTERVAL=0\n"
        "HOOKWISE_PRICE_INPUT=2\n"
        "HOOKWISE_FIX_MODE=commit\n"
        "HOOKWISE_MODEL=claude-test\n"
        "HOOKWISE_LINEAR_CLOSE_ON_MERGE=false\n"
        "HOOKWISE_ADMIN_TOKEN=0123456789abcdef0123\n"
        "HOOKWISE_LOG_LEVEL=WARNING\n"
        "HOOKWISE_LOG_FORMAT=json\n"
    )
    settings = Settings.load(env)
    assert settings.database.url is not None
    assert settings.database.url.get_secret_value().endswith("@db.internal/hookwise")
    assert (settings.web.port, settings.web.processes, settings.worker.processes) == (8080, 3, 2)
    assert settings.webhooks.secrets_for("github") == (b"new-secret", b"old-secret")
    assert settings.webhooks.enabled_sources == ("github",)
    assert settings.worker.poll_interval == 0.5
    assert settings.github.write_interval == 0.0
    assert settings.model.price_input_per_mtok == 2.0
    assert (settings.reactions.fix_mode, settings.reactions.model) == ("commit", "claude-test")
    assert settings.linear.close_on_merge is False
    assert settings.admin.token is not None
    assert (settings.logging.level, settings.logging.format) == ("warning", "json")
    # Secrets are never in a repr (a log line or a traceback's locals).
    for secret in ("pw@", "new-secret", "0123456789abcdef0123"):
        assert secret not in repr(settings)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "HOOKWISE_LOG_FORMAT=yaml",
            "configuration error: HOOKWISE_LOG_FORMAT: Input should be 'auto', 'json' or 'text'",
        ),
        (
            "HOOKWISE_FIX_MODE=push",
            "configuration error: HOOKWISE_FIX_MODE: Input should be 'suggest' or 'commit'",
        ),
        ("HOOKWISE_LOG_LEVEL=loud", "configuration error: HOOKWISE_LOG_LEVEL: Input should be"),
        ("PORT=http", "configuration error: PORT: Input should be a valid integer"),
    ],
)
def test_a_wrong_value_is_named_by_its_variable(tmp_path: Path, line: str, message: str) -> None:
    env = tmp_path / ".env"
    env.write_text(line + "\n")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env)
    assert str(caught.value).startswith(message)


def test_with_env_changes_one_setting_and_checks_it_again() -> None:
    settings = Settings().with_env(HOOKWISE_MAX_ATTEMPTS=2)
    assert settings.worker.max_attempts == 2
    assert settings.web == Settings().web
    with pytest.raises(KeyError, match="HOOKWISE_NO_SUCH"):
        settings.with_env(HOOKWISE_NO_SUCH=1)
    with pytest.raises(ValueError, match="at least 16 characters"):
        settings.with_env(HOOKWISE_ADMIN_TOKEN="short")


def float_settings() -> list[str]:
    """The environment name of every setting read as a number of seconds, a price or a rate."""
    return sorted(
        type(section).env_name(field)
        for section in Settings().sections()
        for field, info in type(section).model_fields.items()
        if info.annotation is float
    )


@pytest.mark.parametrize("name", float_settings())
@pytest.mark.parametrize(
    ("value", "reason"),
    [("inf", "Input should be a finite number"), ("nan", "Input should be a finite number")],
)
def test_no_number_setting_takes_infinity_or_nan(
    tmp_path: Path, name: str, value: str, reason: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"{name}={value}\n")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env)
    assert str(caught.value) == f"configuration error: {name}: {reason}"


@pytest.mark.parametrize("name", [n for n in float_settings() if "PRICE" not in n])
def test_a_number_of_seconds_past_31_years_is_refused(tmp_path: Path, name: str) -> None:
    env = tmp_path / ".env"
    env.write_text(f"{name}=1e15\n")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env)
    assert str(caught.value) == (
        f"configuration error: {name}: Input should be less than or equal to 1000000000"
    )
