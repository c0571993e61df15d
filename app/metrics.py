"""Counters, gauges and histograms kept in memory, rendered in Prometheus's text format (0.0.4).

Written here rather than taken from prometheus_client: the few kinds hookwise needs fit in a
page, and a Metrics object lives on the Context, not in a process-wide registry, so every test
(and every process) sees only its own figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: handlers range from a database write (milliseconds) to a model call (a minute).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

LabelValues = tuple[str, ...]


def escape(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    # Whole numbers without ".0": counts read as counts.
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def sample(name: str, labels: Mapping[str, str], value: float) -> str:
    if not labels:
        return f"{name} {number(value)}"
    inner = ",".join(f'{key}="{escape(text)}"' for key, text in labels.items())
    return f"{name}{{{inner}}} {number(value)}"


class Family:
    """One metric name with a fixed set of label names, and its series."""

    kind: ClassVar[str]

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = labels

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, labels={self.labels!r})"

    def key(self, labels: Mapping[str, str]) -> LabelValues:
        # A misspelt label would silently start a new series: refuse it instead.
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, not {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        yield from self.samples()

    def samples(self) -> Iterator[str]:
        raise NotImplementedError


class Counter(Family):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"{self.name} only goes up")
        key = self.key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def samples(self) -> Iterator[str]:
        for key, value in sorted(self._values.items()):
            yield sample(self.name, dict(zip(self.labels, key, strict=True)), value)


class Gauge(Family):
    kind = "gauge"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        self._values[self.key(labels)] = value

    def samples(self) -> Iterator[str]:
        for key, value in sorted(self._values.items()):
            yield sample(self.name, dict(zip(self.labels, key, strict=True)), value)


@dataclass
class _Series:
    buckets: list[int]
    total: float = 0.0
    count: int = 0


class Histogram(Family):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        bounds: tuple[float, ...] = DURATION_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        self.bounds = bounds
        self._series: dict[LabelValues, _Series] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self.key(labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series([0] * len(self.bounds))
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                series.buckets[index] += 1
        series.total += value
        series.count += 1

    def samples(self) -> Iterator[str]:
        for key, series in sorted(self._series.items()):
            labels = dict(zip(self.labels, key, strict=True))
            for bound, count in zip(self.bounds, series.buckets, strict=True):
                yield sample(f"{self.name}_bucket", labels | {"le": number(bound)}, count)
            yield sample(f"{self.name}_bucket", labels | {"le": "+Inf"}, series.count)
            yield sample(f"{self.name}_sum", labels, series.total)
            yield sample(f"{self.name}_count", labels, series.count)


class Metrics:
    """What one hookwise process counts. Figures read from the database at scrape time (queue
    depth, oldest pending) are not kept here: the /metrics endpoint adds them."""

    def __init__(self) -> None:
        self.deliveries = Counter(
            "hookwise_deliveries_received_total",
            "Webhook deliveries received, by outcome: stored, duplicate, or the refusal's status.",
            ("source", "event", "outcome"),
        )
        self.refusals = Counter(
            "hookwise_webhook_refusals_total",
            "Webhook requests refused, by reason: signature, stale, headers, payload, too_large,"
            " incomplete, body_timeout, busy (the budget for bodies in memory stayed full),"
            " unknown_source.",
            ("source", "reason"),
        )
        self.handler_duration = Histogram(
            "hookwise_handler_duration_seconds",
            "Time the handlers of one event took, per attempt, whatever its outcome.",
            ("source", "event"),
        )
        self.events_processed = Counter(
            "hookwise_events_processed_total",
            "Attempts a worker finished, by outcome: completed, ignored, retry, dead_letter,"
            " later (rescheduled without counting an attempt), lease_lost.",
            ("source", "event", "outcome"),
        )
        self.retries = Counter(
            "hookwise_event_retries_total",
            "Failed attempts scheduled to run again.",
            ("source", "event"),
        )
        self.dead_letters = Counter(
            "hookwise_dead_letters_total",
            "Events that failed their last attempt and are now failed.",
            ("source", "event"),
        )
        self.prelude_failures = Counter(
            "hookwise_batch_prelude_failures_total",
            "Batches whose prelude (the installation and repository rows their events share,"
            " taken in one order) failed under its savepoint and was rolled back: their"
            " handlers wrote those rows themselves, in the events' order.",
        )
        self.executions = Counter(
            "hookwise_executions_total",
            "Reaction executions a worker ran, by workflow and outcome: completed, cancelled"
            " (found pointless), failed (refused, or out of attempts), retry, rescheduled (rate"
            " limit), lease_lost. One an operator cancels is never run, so never counted.",
            ("workflow", "outcome"),
        )
        self.github_requests = Counter(
            "hookwise_github_requests_total",
            "Requests to the GitHub API by HTTP status; error: no answer (timeout, connection).",
            ("status",),
        )
        self.github_rate_limit_remaining = Gauge(
            "hookwise_github_rate_limit_remaining",
            "X-RateLimit-Remaining of GitHub's latest answer, per installation (app: the App"
            " itself) and resource.",
            ("installation", "resource"),
        )
        self.model_requests = Counter(
            "hookwise_model_requests_total",
            "Requests to the Anthropic API by HTTP status; error: no answer.",
            ("status",),
        )
        self.model_tokens = Counter(
            "hookwise_model_tokens_total",
            "Tokens used by the model, by model and direction (input, output).",
            ("model", "direction"),
        )

    def families(self) -> list[Family]:
        return [value for value in vars(self).values() if isinstance(value, Family)]

    def render(self, extra: Iterable[Family] = ()) -> str:
        lines = [line for family in (*self.families(), *extra) for line in family.render()]
        return "\n".join(lines) + "\n"


def merge(texts: Iterable[str]) -> str:
    """Several processes' renderings as one (`hookwise serve --workers N`): a series that more
    than one process has is summed, a gauge's kept at its lowest (the only gauge a process keeps
    is GitHub's rate limit remaining, and the lowest is what GitHub said last, until its hour
    resets). Families keep the order of their first appearance."""
    headers: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    series: dict[str, dict[str, float]] = {}
    for text in texts:
        family = ""
        for line in text.splitlines():
            if line.startswith("# "):
                _, what, name, *rest = line.split(" ", 3)
                family = name
                headers.setdefault(name, [])
                if line not in headers[name]:
                    headers[name].append(line)
                if what == "TYPE" and rest:
                    kinds[name] = rest[0]
                continue
            if not line.strip():
                continue
            key, _, value = line.rpartition(" ")
            found = series.setdefault(family, {})
            amount = float(value)
            if key not in found:
                found[key] = amount
            elif kinds.get(family) == "gauge":
                found[key] = min(found[key], amount)
            else:
                found[key] += amount
    lines = []
    for name, header in headers.items():
        lines.extend(header)
        lines.extend(f"{key} {number(value)}" for key, value in series.get(name, {}).items())
    return "\n".join(lines) + "\n"
