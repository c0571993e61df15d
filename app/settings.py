"""Every knob hookwise has, read from the environment (prefix HOOKWISE_, plus the usual names).

One section per concern, each a model of its own handed to what it configures: `database`
(where the events live), `web` (the listening side and its limits on requests), `webhooks`
(sources and their signing secrets), `worker` (dispatch, retries, schedules), `github` (the App
and its API), `model` (Anthropic's API and prices), `reactions` (defaults a repository's
.github/hookwise.yml overrides), `linear` (Linear's API), `admin` (tokens of /admin and
/metrics) and `logging`. A variable keeps the name it has always had (README, Configuration):
the sections group fields, never rename the environment.

Only cli.py reads the environment, once (`Settings.load`); tests build a section themselves
(`GitHubSettings(app_id=...)`) or change settings by environment name (`Settings.with_env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.crypto import parse_key

Source = Literal["github", "linear"]
SOURCES: tuple[Source, ...] = ("github", "linear")
ADMIN_TOKEN_MIN_LENGTH = 16

Secrets = Annotated[tuple[SecretStr, ...], NoDecode]
LogLevel = Literal["debug", "info", "warning", "warn", "error", "critical", "fatal", "notset"]
LogFormat = Literal["auto", "json", "text"]
FixMode = Literal["suggest", "commit"]
# The longest a seconds setting may be (about 31 years): beyond it a lease, backoff or schedule
# no longer fits a PostgreSQL timestamp or a Python timedelta once added to now, and the
# worker would fail on its first claim instead of at start-up.
MAX_SECONDS = 1_000_000_000
Seconds = Annotated[float, Field(le=MAX_SECONDS)]


def _env(name: str, *aliases: str) -> Any:
    """The environment names a field answers to; the first is the one error messages use."""
    return AliasChoices(name, *aliases)


def _split_secrets(value: Any) -> Any:
    # Several secrets are accepted at once so a secret can be rotated without dropping events.
    if isinstance(value, str | SecretStr):
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _check_token(value: SecretStr | None) -> SecretStr | None:
    if value is None or not value.get_secret_value():
        return None
    # The only thing between the internet and a replay button (or the queue's figures): no
    # guessable tokens.
    if len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
        raise ValueError(
            f"must be at least {ADMIN_TOKEN_MIN_LENGTH} characters (openssl rand -hex 32)"
        )
    return value


class Section(BaseSettings):
    """A group of settings read from the environment by the names its fields' aliases give."""

    # A section's prefix names only its fields' fallbacks (HOOKWISE_GITHUB_APP_ID); the names a
    # field is documented under are its aliases.
    model_config = SettingsConfigDict(
        env_prefix="HOOKWISE_",
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        frozen=True,
        # `inf` and `nan` parse as floats: no setting means either (a lease of `inf` seconds
        # failed the first claim with a traceback).
        allow_inf_nan=False,
    )

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Every environment name a field of this section answers to, to the field's name."""
        names = {}
        for field, info in cls.model_fields.items():
            for name in getattr(info.validation_alias, "choices", ()):
                names[str(name)] = field
        return names

    @classmethod
    def env_name(cls, field: str) -> str:
        """The first environment name of `field` (the one the README documents)."""
        info = cls.model_fields.get(field)
        alias = info.validation_alias if info else None
        choices = getattr(alias, "choices", None)
        return str(choices[0]) if choices else field.upper()


class DatabaseSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_DATABASE_")

    url: SecretStr | None = Field(
        None, validation_alias=_env("DATABASE_URL", "HOOKWISE_DATABASE_URL")
    )
    data_dir: Path = Field(Path(".hookwise"), validation_alias=_env("HOOKWISE_DATA_DIR"))
    pgdata: Path | None = Field(None, validation_alias=_env("HOOKWISE_PGDATA"))
    pool_size: int = Field(10, ge=1, validation_alias=_env("HOOKWISE_DB_POOL_SIZE"))
    # Seconds a pooled connection may sit idle before it is closed; 0 keeps it for the pool's
    # life. asyncpg's own default (300) made a burst after a quiet spell open connections again
    # and look up their types (20-55 ms each, issue 18); the pool's size bounds what is kept.
    pool_idle_seconds: Seconds = Field(
        0.0, ge=0, validation_alias=_env("HOOKWISE_DB_POOL_IDLE_SECONDS")
    )
    migrate_on_start: bool = Field(True, validation_alias=_env("HOOKWISE_MIGRATE_ON_START"))
    # Base64 AES-256 keys for credentials at rest; the first encrypts, all decrypt (rotation).
    encryption_key: Secrets = Field((), validation_alias=_env("HOOKWISE_ENCRYPTION_KEY"))

    _split_keys = field_validator("encryption_key", mode="before")(_split_secrets)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _check_encryption_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        # After splitting, so a refused key reaches error messages only as SecretStr('****').
        for key in value:
            parse_key(key.get_secret_value())
        return value

    @property
    def pgdata_dir(self) -> Path:
        """The embedded database's directory: HOOKWISE_PGDATA, else `pgdata/` in the data dir."""
        return self.pgdata or self.data_dir / "pgdata"


class WebSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_WEB_")

    host: str = Field("127.0.0.1", validation_alias=_env("HOST", "HOOKWISE_HOST"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=_env("PORT", "HOOKWISE_PORT"))
    # `hookwise worker` has no web server; when set, it serves /metrics and /healthz here.
    metrics_port: int = Field(0, ge=0, le=65535, validation_alias=_env("HOOKWISE_METRICS_PORT"))
    # `hookwise serve`'s web processes sharing the port (app/processes.py); None: one per core.
    processes: int | None = Field(
        None, ge=1, validation_alias=_env("HOOKWISE_WEB_PROCESSES", "WEB_CONCURRENCY")
    )
    # GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
    max_body_bytes: int = Field(
        25 * 1024 * 1024, gt=0, validation_alias=_env("HOOKWISE_MAX_BODY_BYTES")
    )
    # Bytes of request bodies one web process holds at once (app/http/budget.py): a quarter for
    # bodies up to HOOKWISE_LARGE_BODY_BYTES, the rest for larger ones; a request whose bytes are
    # not free within HOOKWISE_INFLIGHT_WAIT seconds is answered 503 with Retry-After.
    max_inflight_bytes: int = Field(
        64 * 1024 * 1024, gt=0, validation_alias=_env("HOOKWISE_MAX_INFLIGHT_BYTES")
    )
    large_body_bytes: int = Field(
        1024 * 1024, gt=0, validation_alias=_env("HOOKWISE_LARGE_BODY_BYTES")
    )
    inflight_wait: Seconds = Field(1.0, ge=0, validation_alias=_env("HOOKWISE_INFLIGHT_WAIT"))
    # GitHub gives up on a delivery after 10 s; a body still arriving by then is refused (408).
    body_timeout: Seconds = Field(10.0, gt=0, validation_alias=_env("HOOKWISE_BODY_TIMEOUT"))
    # Open connections one web process accepts; past it new requests get uvicorn's 503.
    max_connections: int = Field(2048, ge=1, validation_alias=_env("HOOKWISE_MAX_CONNECTIONS"))
    # A header the proxy in front sets to the client's address (Fly.io: Fly-Client-IP), used to
    # name clients in refusal logs; unset, the connection's peer is named. Only set it when
    # every request passes through that proxy, or anyone can name themselves.
    client_ip_header: str | None = Field(None, validation_alias=_env("HOOKWISE_CLIENT_IP_HEADER"))

    @property
    def body_lanes(self) -> tuple[int, int]:
        """(small, large) bytes of HOOKWISE_MAX_INFLIGHT_BYTES: a quarter, at least four bodies of
        HOOKWISE_LARGE_BODY_BYTES, for small bodies; the rest for large ones."""
        total = self.max_inflight_bytes
        small = min(max(total // 4, 4 * self.large_body_bytes), total)
        return small, total - small

    @model_validator(mode="after")
    def _check_body_budget(self) -> WebSettings:
        small, large = self.body_lanes
        # Else a delivery of the largest allowed size could never be taken.
        if large < self.max_body_bytes:
            raise ValueError(
                "HOOKWISE_MAX_INFLIGHT_BYTES must hold one body of HOOKWISE_MAX_BODY_BYTES beside"
                f" the small-body lane: at least {self.max_body_bytes + small} with these settings"
            )
        return self


class WebhookSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_WEBHOOK_")

    # None: every source that has a secret.
    sources: Annotated[tuple[Source, ...] | None, NoDecode] = Field(
        None, validation_alias=_env("HOOKWISE_SOURCES")
    )
    github_secret: Secrets = Field(
        (), validation_alias=_env("GITHUB_WEBHOOK_SECRET", "HOOKWISE_GITHUB_WEBHOOK_SECRET")
    )
    linear_secret: Secrets = Field(
        (), validation_alias=_env("LINEAR_WEBHOOK_SECRET", "HOOKWISE_LINEAR_WEBHOOK_SECRET")
    )
    linear_timestamp_tolerance: Seconds = Field(
        60.0, gt=0, validation_alias=_env("HOOKWISE_LINEAR_TIMESTAMP_TOLERANCE")
    )
    # Linear retries a delivery after 1 minute, 1 hour and 6 hours: a signed body this old is
    # taken once, keyed by its digest (app/deliveries.py, parse_linear). 0: refuse them.
    linear_retry_window: Seconds = Field(
        8 * 3600.0, ge=0, validation_alias=_env("HOOKWISE_LINEAR_RETRY_WINDOW")
    )

    _split = field_validator("github_secret", "linear_secret", mode="before")(_split_secrets)

    @field_validator("sources", mode="before")
    @classmethod
    def _split_sources(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        for source in value or ():
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
        return value

    @model_validator(mode="after")
    def _check_enabled_sources_have_secrets(self) -> WebhookSettings:
        for source in self.sources or ():
            if not self.secrets_for(source):
                raise ValueError(
                    f"{source.upper()}_WEBHOOK_SECRET is required: "
                    f"HOOKWISE_SOURCES enables {source}"
                )
        return self

    def secrets_for(self, source: str) -> tuple[bytes, ...]:
        """The signing secrets of `source` ("github" or "linear"), as bytes, current first."""
        secrets = self.github_secret if source == "github" else self.linear_secret
        return tuple(secret.get_secret_value().encode() for secret in secrets)

    @property
    def enabled_sources(self) -> tuple[Source, ...]:
        """Sources named in HOOKWISE_SOURCES, or else every source that has a secret."""
        if self.sources is not None:
            return self.sources
        return tuple(source for source in SOURCES if self.secrets_for(source))


class WorkerSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_WORKER_")

    concurrency: int = Field(4, ge=1, validation_alias=_env("HOOKWISE_WORKER_CONCURRENCY"))
    # Events one slot claims at once and handles in one transaction, each under a savepoint: one
    # commit for them all. Their bodies are in memory together.
    batch: int = Field(16, ge=1, validation_alias=_env("HOOKWISE_WORKER_BATCH"))
    # Slots for executions (reactions), apart from the events': a review waiting on the model
    # never keeps an event from being recorded. An execution holds a pooled connection for one
    # statement at a time, never across a remote call, so these are not counted in the pool.
    execution_concurrency: int = Field(
        4, ge=1, validation_alias=_env("HOOKWISE_EXECUTION_CONCURRENCY")
    )
    # `hookwise serve`'s worker processes beside its web processes.
    processes: int = Field(1, ge=0, validation_alias=_env("HOOKWISE_WORKER_PROCESSES"))
    # Whether a lone worker beside one web process runs in a process of its own (at `nice`)
    # rather than on the web process's event loop. Off: measured on 2 cores (issue 18), apart
    # it let ingest answer 0.29-0.35x the bare app's rate against 0.37-0.38x together, its
    # lowered backend still taking most of a core.
    apart: bool = Field(False, validation_alias=_env("HOOKWISE_WORKER_APART"))
    # Niceness (0-19) of those worker processes, and of their PostgreSQL backends when the
    # database is the embedded one: ingest first, handling takes the CPU the web processes leave.
    # 0 leaves them as they are; `hookwise worker` run alone is never lowered.
    nice: int = Field(10, ge=0, le=19, validation_alias=_env("HOOKWISE_WORKER_NICE"))
    max_attempts: int = Field(8, ge=1, validation_alias=_env("HOOKWISE_MAX_ATTEMPTS"))
    # Longer than any handler should take: past it, another worker takes the event over.
    lease_seconds: Seconds = Field(300.0, gt=0, validation_alias=_env("HOOKWISE_LEASE_SECONDS"))
    # Seconds a worker woken while a batch is in flight waits for that batch's commit, so the
    # events stored meanwhile are claimed as one batch (app/worker.py, Worker._gather).
    gather: Seconds = Field(0.010, ge=0, validation_alias=_env("HOOKWISE_WORKER_GATHER"))
    # NOTIFY wakes workers at once; the poll only covers a notification lost on a reconnect.
    poll_interval: Seconds = Field(5.0, gt=0, validation_alias=_env("HOOKWISE_POLL_INTERVAL"))
    retry_base_seconds: Seconds = Field(
        10.0, ge=0, validation_alias=_env("HOOKWISE_RETRY_BASE_SECONDS")
    )
    retry_max_seconds: Seconds = Field(
        3600.0, ge=0, validation_alias=_env("HOOKWISE_RETRY_MAX_SECONDS")
    )
    shutdown_grace: Seconds = Field(20.0, ge=0, validation_alias=_env("HOOKWISE_SHUTDOWN_GRACE"))
    # Seconds between scheduled `redeliver` runs inside the worker; 0 turns it off.
    redeliver_every: Seconds = Field(0.0, ge=0, validation_alias=_env("HOOKWISE_REDELIVER_EVERY"))
    # Seconds after which each repository is looked at again (reconcile), in case webhooks were
    # missed; 0 turns the schedule off.
    reconcile_every: Seconds = Field(
        21600.0, ge=0, validation_alias=_env("HOOKWISE_RECONCILE_EVERY")
    )
    # Refusals (404, 403) in a row after which a repository is marked error, then suspended:
    # a suspended one is skipped until an installation event or `hookwise reconcile --repo`.
    reconcile_error_after: int = Field(
        3, ge=1, validation_alias=_env("HOOKWISE_RECONCILE_ERROR_AFTER")
    )
    reconcile_suspend_after: int = Field(
        5, ge=1, validation_alias=_env("HOOKWISE_RECONCILE_SUSPEND_AFTER")
    )


class GitHubSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_GITHUB_")

    api_url: str = Field(
        "https://api.github.com", validation_alias=_env("GITHUB_API_URL", "HOOKWISE_GITHUB_API_URL")
    )
    # The web side (App manifest flow, installation links); derived from the API URL when unset.
    url: str | None = Field(None, validation_alias=_env("GITHUB_URL", "HOOKWISE_GITHUB_URL"))
    app_id: str | None = Field(None, validation_alias=_env("GITHUB_APP_ID"))
    # GitHub now advises the client id as the JWT issuer; the app id still works.
    client_id: str | None = Field(None, validation_alias=_env("GITHUB_CLIENT_ID"))
    client_secret: SecretStr | None = Field(None, validation_alias=_env("GITHUB_CLIENT_SECRET"))
    private_key: SecretStr | None = Field(None, validation_alias=_env("GITHUB_PRIVATE_KEY"))
    private_key_path: Path | None = Field(None, validation_alias=_env("GITHUB_PRIVATE_KEY_PATH"))
    timeout: Seconds = Field(30.0, gt=0, validation_alias=_env("HOOKWISE_GITHUB_TIMEOUT"))
    # First pause before retrying a 5xx or a timeout (then doubled, with jitter; 3 tries in all).
    retry_seconds: Seconds = Field(
        0.5, ge=0, validation_alias=_env("HOOKWISE_GITHUB_RETRY_SECONDS")
    )
    # GitHub asks for content-creating requests one at a time, a second apart, per installation.
    write_interval: Seconds = Field(
        1.0, ge=0, validation_alias=_env("HOOKWISE_GITHUB_WRITE_INTERVAL")
    )

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("url")
    @classmethod
    def _check_web_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)

    @model_validator(mode="after")
    def _check_app(self) -> GitHubSettings:
        if self.private_key is not None and self.private_key_path is not None:
            raise ValueError("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both")
        has_key = self.private_key is not None or self.private_key_path is not None
        if has_key and not self.app_configured:
            raise ValueError("GITHUB_APP_ID is required with a private key")
        if self.app_configured and not has_key:
            raise ValueError("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required")
        if has_key and "PRIVATE KEY-----" not in self.private_key_pem():
            raise ValueError("the GitHub App private key is not a PEM private key")
        return self

    @property
    def app_configured(self) -> bool:
        """Whether hookwise is a GitHub App here (an app or client id; the key is then checked)."""
        return bool(self.app_id or self.client_id)

    def private_key_pem(self) -> str:
        """The App's private key; reading a missing key file is a configuration error."""
        if self.private_key is not None:
            return self.private_key.get_secret_value().replace("\\n", "\n")
        assert self.private_key_path is not None
        try:
            return self.private_key_path.read_text()
        except OSError as exc:
            raise ValueError(f"GITHUB_PRIVATE_KEY_PATH: cannot read: {exc.strerror}") from None

    @property
    def web_url(self) -> str:
        """GitHub's web address: GITHUB_URL, else derived from GITHUB_API_URL."""
        if self.url:
            return self.url
        if self.api_url == "https://api.github.com":
            return "https://github.com"
        # GitHub Enterprise Server serves its API under /api/v3 of the web host.
        return self.api_url.removesuffix("/api/v3")


class ModelSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_MODEL_")

    # AI features are off unless a key is set and the repository (or these defaults) enable them.
    api_key: SecretStr | None = Field(
        None, validation_alias=_env("ANTHROPIC_API_KEY", "HOOKWISE_ANTHROPIC_API_KEY")
    )
    base_url: str | None = Field(
        None, validation_alias=_env("ANTHROPIC_BASE_URL", "HOOKWISE_ANTHROPIC_BASE_URL")
    )
    max_retries: int = Field(2, ge=0, validation_alias=_env("HOOKWISE_ANTHROPIC_MAX_RETRIES"))
    retry_seconds: Seconds = Field(
        1.0, ge=0, validation_alias=_env("HOOKWISE_ANTHROPIC_RETRY_SECONDS")
    )
    # USD per million tokens, recorded with every model call so spend is visible per row.
    price_input_per_mtok: float = Field(3.0, ge=0, validation_alias=_env("HOOKWISE_PRICE_INPUT"))
    price_output_per_mtok: float = Field(15.0, ge=0, validation_alias=_env("HOOKWISE_PRICE_OUTPUT"))
    # USD per million tokens by model-name prefix, over hookwise's table (app/clients/anthropic.py):
    # HOOKWISE_MODEL_PRICES='{"claude-sonnet-4": [3, 15]}'.
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, validation_alias=_env("HOOKWISE_MODEL_PRICES")
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)


class ReactionSettings(Section):
    """Defaults for repositories; their .github/hookwise.yml (app/repo_config.py) overrides them."""

    model_config = SettingsConfigDict(env_prefix="HOOKWISE_REACTIONS_")

    review: bool = Field(False, validation_alias=_env("HOOKWISE_REVIEW"))
    fix: bool = Field(False, validation_alias=_env("HOOKWISE_FIX"))
    fix_mode: FixMode = Field("suggest", validation_alias=_env("HOOKWISE_FIX_MODE"))
    max_fix_attempts: int = Field(3, ge=0, validation_alias=_env("HOOKWISE_MAX_FIX_ATTEMPTS"))
    model: str = Field("claude-sonnet-4-6", validation_alias=_env("HOOKWISE_MODEL"))
    max_tokens: int = Field(4096, ge=256, validation_alias=_env("HOOKWISE_MAX_TOKENS"))
    daily_token_budget: int = Field(
        2_000_000, ge=0, validation_alias=_env("HOOKWISE_DAILY_TOKEN_BUDGET")
    )


class LinearSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_LINEAR_")

    # Linear's API: attach PRs to issues, complete them on merge, comment when closed unmerged.
    api_key: SecretStr | None = Field(
        None, validation_alias=_env("LINEAR_API_KEY", "HOOKWISE_LINEAR_API_KEY")
    )
    api_url: str = Field(
        "https://api.linear.app/graphql",
        validation_alias=_env("LINEAR_API_URL", "HOOKWISE_LINEAR_API_URL"),
    )
    close_on_merge: bool = Field(True, validation_alias=_env("HOOKWISE_LINEAR_CLOSE_ON_MERGE"))

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _check_http_url(value)


class AdminSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_ADMIN_")

    # Unset: no /admin route exists. Set: the pages ask for it once and keep a signed session.
    token: SecretStr | None = Field(None, validation_alias=_env("HOOKWISE_ADMIN_TOKEN"))
    # Unset: /metrics is open (scrape it privately). Set: scrapes need Authorization: Bearer.
    metrics_token: SecretStr | None = Field(None, validation_alias=_env("HOOKWISE_METRICS_TOKEN"))

    _check_tokens = field_validator("token", "metrics_token")(_check_token)


class LogSettings(Section):
    model_config = SettingsConfigDict(env_prefix="HOOKWISE_LOG_")

    # Unset: each command's own (level_for).
    level: LogLevel | None = Field(None, validation_alias=_env("HOOKWISE_LOG_LEVEL"))
    # auto: JSON lines unless stderr is a terminal.
    format: LogFormat = Field("auto", validation_alias=_env("HOOKWISE_LOG_FORMAT"))

    def level_for(self, *, quiet: bool) -> str:
        """The level a command logs at: HOOKWISE_LOG_LEVEL when set, else warning for a quiet
        command (one whose answer is what it prints) and info for the others."""
        return self.level or ("warning" if quiet else "info")

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        # logging's names, in any case (INFO, info), as logging.setLevel took them.
        return value.lower() if isinstance(value, str) else value


class ConfigurationError(ValueError):
    """A setting the environment gives wrongly: its name and the problem, never its value."""


class Settings(BaseModel):
    """Every section; each is handed to what it configures (the worker gets `worker`, ...)."""

    model_config = ConfigDict(frozen=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    reactions: ReactionSettings = Field(default_factory=ReactionSettings)
    linear: LinearSettings = Field(default_factory=LinearSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    logging: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def load(cls, env_file: Path | None = None) -> Settings:
        """Every section from the environment, over `env_file` (a .env file; the environment
        wins). Raises ConfigurationError naming the first wrong variable."""
        sections: dict[str, Section] = {}
        for name, info in cls.model_fields.items():
            section = info.annotation
            assert isinstance(section, type) and issubclass(section, Section)
            try:
                sections[name] = section(_env_file=env_file)
            except ValidationError as exc:
                # Name the setting and the problem, never the value: it may be a secret.
                first = exc.errors()[0]
                message = first["msg"].removeprefix("Value error, ")
                where = section.env_name(str(first["loc"][0])) + ": " if first["loc"] else ""
                raise ConfigurationError(f"configuration error: {where}{message}") from None
        return cls.model_validate(sections)

    def with_changes(self, **sections: Mapping[str, Any]) -> Settings:
        """These settings with some sections' fields changed, validated again as the
        environment's are: `settings.with_changes(web={"port": 8080})`. ValidationError
        (pydantic's) when a changed value is refused."""
        changed = {}
        for name, changes in sections.items():
            section = getattr(self, name)
            changed[name] = type(section)(**(section.model_dump() | dict(changes)))
        return self.model_copy(update=changed)

    def with_env(self, **variables: object) -> Settings:
        """These settings with some changed by their environment names (README, Configuration):
        `settings.with_env(HOOKWISE_POLL_INTERVAL=0.5)`, values as the fields take them.
        KeyError for a name no setting answers to; ValidationError for a refused value."""
        changes: dict[str, dict[str, object]] = {}
        for variable, value in variables.items():
            for name in type(self).model_fields:
                field = type(getattr(self, name)).env_names().get(variable)
                if field is not None:
                    changes.setdefault(name, {})[field] = value
                    break
            else:
                raise KeyError(f"no setting is named {variable}")
        return self.with_changes(**changes)

    def sections(self) -> tuple[Section, ...]:
        """Every section, in the order of the fields."""
        return tuple(getattr(self, name) for name in type(self).model_fields)
