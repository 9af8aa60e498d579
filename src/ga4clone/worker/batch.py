"""What the worker holds between two flushes, and what it turns a batch into.

A :class:`Batch` collects decoded messages (and undecodable ones) with their
delivery tags. At flush time it is turned into ClickHouse columns
(:func:`to_columns`) and PostgreSQL daily aggregates (:func:`daily_counts`).
Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ga4clone.events import Event, EventMessage

EVENT_COLUMNS = (
    "project_id",
    "event_date",
    "event_name",
    "event_id",
    "event_timestamp",
    "received_timestamp",
    "user_pseudo_id",
    "session_id",
    "page_path",
    "page_referrer",
    "sdk_name",
    "sdk_version",
    "user_agent",
    "client_ip",
    "ingest_endpoint",
    "event_params.key",
    "event_params.string_value",
    "event_params.int_value",
    "event_params.double_value",
    "message_id",
)

_EPOCH = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000
PAGE_VIEW = "page_view"
INGEST_ENDPOINT = "events"


@dataclass
class Delivery:
    """A decoded message with the id RabbitMQ knows it by."""

    message_id: uuid.UUID
    message: EventMessage


@dataclass
class DeadLetter:
    """A message that can never be stored, and why."""

    body: bytes
    properties: Any
    reason: str


@dataclass
class Batch:
    """Messages received since the last flush, up to the last delivery tag."""

    started: float = field(default_factory=time.monotonic)
    deliveries: list[Delivery] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    last_tag: int = 0
    events: int = 0

    def add(self, tag: int, delivery: Delivery) -> None:
        if not self.deliveries and not self.dead_letters:
            self.started = time.monotonic()
        self.deliveries.append(delivery)
        self.events += len(delivery.message.events)
        self.last_tag = tag

    def reject(self, tag: int, dead_letter: DeadLetter) -> None:
        if not self.deliveries and not self.dead_letters:
            self.started = time.monotonic()
        self.dead_letters.append(dead_letter)
        self.last_tag = tag

    @property
    def empty(self) -> bool:
        return self.last_tag == 0

    def seconds_left(self, flush_interval_s: float) -> float:
        """Time until this batch is due by age; the full interval when empty."""
        if self.empty:
            return flush_interval_s
        return max(0.0, self.started + flush_interval_s - time.monotonic())


def unique_deliveries(deliveries: list[Delivery]) -> list[Delivery]:
    """Drop repeats of a message id within one batch, keeping the first."""
    seen: set[uuid.UUID] = set()
    unique = []
    for delivery in deliveries:
        if delivery.message_id not in seen:
            seen.add(delivery.message_id)
            unique.append(delivery)
    return unique


def event_date(timestamp_ms: int) -> dt.date:
    """The UTC date of a Unix time in milliseconds."""
    return _day(timestamp_ms // _MS_PER_DAY)


@functools.lru_cache(maxsize=256)
def _day(day_number: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=day_number)


def to_columns(deliveries: list[Delivery]) -> list[tuple[Any, ...]]:
    """The ClickHouse columns of :data:`EVENT_COLUMNS` for every event."""
    rows = [
        _row(delivery, event)
        for delivery in deliveries
        for event in delivery.message.events
    ]
    if not rows:
        return [() for _ in EVENT_COLUMNS]
    return list(zip(*rows, strict=True))


def _row(delivery: Delivery, event: Event) -> tuple[Any, ...]:
    """One event's values, in the order of :data:`EVENT_COLUMNS`."""
    envelope = delivery.message
    keys, strings, ints, doubles = _typed_params(event.params)
    return (
        event.project_id,
        event_date(event.timestamp),
        event.event_name,
        event.event_id,
        event.timestamp * 1000,
        envelope.received_at_ms * 1000,
        event.client_id,
        event.session_id,
        event.path or "",
        event.referrer or "",
        event.sdk_name or "",
        event.sdk_version or "",
        envelope.user_agent,
        envelope.client_ip,
        INGEST_ENDPOINT,
        keys,
        strings,
        ints,
        doubles,
        delivery.message_id,
    )


def _typed_params(
    params: dict[str, Any],
) -> tuple[list[str], list[str | None], list[int | None], list[float | None]]:
    # As in GA4's export, a boolean is stored as the integer 0 or 1. The exact
    # type decides, since the values were validated to be one of four types.
    keys = list(params)
    strings: list[str | None] = []
    ints: list[int | None] = []
    doubles: list[float | None] = []
    for value in params.values():
        kind = type(value)
        strings.append(value if kind is str else None)
        ints.append(int(value) if kind is int or kind is bool else None)
        doubles.append(value if kind is float else None)
    return keys, strings, ints, doubles


def daily_counts(deliveries: list[Delivery]) -> Counter[tuple[uuid.UUID, dt.date, str]]:
    """Counts per (project, UTC day, metric name) for the daily_metrics table."""
    by_name = Counter(
        (event.project_id, event.timestamp // _MS_PER_DAY, event.event_name)
        for delivery in deliveries
        for event in delivery.message.events
    )
    counts: Counter[tuple[uuid.UUID, dt.date, str]] = Counter()
    for (project, day_number, name), count in by_name.items():
        day = _day(day_number)
        counts[(project, day, "events")] += count
        counts[(project, day, f"event:{name}")] += count
        if name == PAGE_VIEW:
            counts[(project, day, "page_views")] += count
    return counts
