"""What the worker holds between two flushes, and what it turns a batch into.

A :class:`Batch` collects decoded messages (and undecodable ones) with their
delivery tags. At flush time it is turned into ClickHouse columns
(:func:`to_columns`), enriched by an :class:`~ga4clone.enrich.Enricher`, and
PostgreSQL daily aggregates (:func:`daily_counts`), which leave bots out.
Nothing here does I/O. The enricher caches what it derives from a User-Agent,
an address, a page and a referrer, so the second pass of a flush (the daily
counts ask only whether a message came from a bot) is dictionary look-ups.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ga4clone.enrich.enricher import Enricher, Visitor
from ga4clone.events import Consent, Event, EventMessage

# Columns that differ per event, then the columns every event of a message
# shares: a row is the concatenation of the two tuples (see :func:`_rows`).
_EVENT_PART = (
    "project_id",
    "event_date",
    "event_name",
    "event_id",
    "event_timestamp",
    "event_params.key",
    "event_params.string_value",
    "event_params.int_value",
    "event_params.double_value",
    "user_pseudo_id",
    "session_id",
    "page_location",
    "page_hostname",
    "page_path",
    "page_query",
    "page_title",
    "page_referrer",
    "traffic_source_source",
    "traffic_source_medium",
    "traffic_source_name",
    "collected_traffic_source_manual_campaign_id",
    "collected_traffic_source_manual_campaign_name",
    "collected_traffic_source_manual_source",
    "collected_traffic_source_manual_medium",
    "collected_traffic_source_manual_term",
    "collected_traffic_source_manual_content",
    "collected_traffic_source_gclid",
    "collected_traffic_source_dclid",
    "collected_traffic_source_srsltid",
    "sdk_name",
    "sdk_version",
)
_MESSAGE_PART = (
    "received_timestamp",
    "user_id",
    "user_properties.key",
    "user_properties.string_value",
    "user_properties.int_value",
    "user_properties.double_value",
    "user_properties.set_timestamp_micros",
    "privacy_info_analytics_storage",
    "privacy_info_ads_storage",
    "non_personalized_ads",
    "device_category",
    "device_mobile_brand_name",
    "device_mobile_model_name",
    "device_operating_system",
    "device_operating_system_version",
    "device_browser",
    "device_browser_version",
    "device_language",
    "is_bot",
    "geo_continent",
    "geo_sub_continent",
    "geo_country",
    "geo_region",
    "geo_city",
    "geo_metro",
    "platform",
    "stream_id",
    "ingest_endpoint",
    "user_agent",
    "client_ip",
    "message_id",
)
EVENT_COLUMNS = _EVENT_PART + _MESSAGE_PART
# Tags of the page URL, in the order of the collected_traffic_source columns.
_COLLECTED_TAGS = (
    "utm_id",
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
    "gclid",
    "dclid",
    "srsltid",
)
_GRANTED, _DENIED = "GRANTED", "DENIED"

_EPOCH = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000
PAGE_VIEW = "page_view"
# Without one given, the columns are enriched without a geo database and with
# bots stored, as the settings' defaults say.
_DEFAULT_ENRICHER = Enricher()


@dataclass
class Delivery:
    """A decoded message with the id RabbitMQ knows it by, and its headers."""

    message_id: uuid.UUID
    message: EventMessage
    headers: dict[str, Any] | None = None


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
    def messages(self) -> int:
        return len(self.deliveries) + len(self.dead_letters)

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


def to_columns(
    deliveries: list[Delivery], enricher: Enricher | None = None
) -> list[tuple[Any, ...]]:
    """The ClickHouse columns of :data:`EVENT_COLUMNS` for every event.

    Events of bots are left out when the enricher's ``store_bots`` is off.
    """
    enricher = enricher or _DEFAULT_ENRICHER
    rows = [row for delivery in deliveries for row in _rows(delivery, enricher)]
    if not rows:
        return [() for _ in EVENT_COLUMNS]
    return list(zip(*rows, strict=True))


def _rows(delivery: Delivery, enricher: Enricher) -> list[tuple[Any, ...]]:
    """The rows of one message's events, in the order of :data:`EVENT_COLUMNS`."""
    message = delivery.message
    visitor = enricher.visitor(message)
    if visitor.agent.is_bot and not enricher.store_bots:
        return []
    shared = _message_values(delivery, visitor)
    origin = message.request_origin
    return [_event_values(event, enricher, origin) + shared for event in message.events]


def _event_values(
    event: Event, enricher: Enricher, origin: str | None
) -> tuple[Any, ...]:
    keys, strings, ints, doubles = _typed_params(event.params)
    facts = enricher.page(event, origin)
    page, source, tags = facts.page, facts.source, facts.page.tags
    micros = event.timestamp_micros
    return (
        event.project_id,
        event_date(event.timestamp),
        event.event_name,
        event.event_id,
        micros if micros is not None else event.timestamp * 1000,
        keys,
        strings,
        ints,
        doubles,
        event.client_id,
        event.session_id,
        page.location,
        page.hostname,
        page.path,
        page.query,
        facts.title,
        facts.referrer,
        source.source,
        source.medium,
        source.name,
        *[tags.get(tag, "") for tag in _COLLECTED_TAGS],
        event.sdk_name or "",
        event.sdk_version or "",
    )


def _message_values(delivery: Delivery, visitor: Visitor) -> tuple[Any, ...]:
    message = delivery.message
    agent, place = visitor.agent, visitor.place
    keys, strings, ints, doubles = _typed_params(message.user_properties)
    set_at = [message.user_properties_micros] * len(keys)
    return (
        message.received_at_ms * 1000,
        message.user_id,
        keys,
        strings,
        ints,
        doubles,
        set_at,
        "",
        _ads_storage(message.consent),
        int(bool(message.non_personalized_ads)),
        agent.category,
        agent.brand,
        agent.model,
        agent.operating_system,
        agent.operating_system_version,
        agent.browser,
        agent.browser_version,
        visitor.language,
        int(agent.is_bot),
        place.continent,
        place.sub_continent,
        place.country,
        place.region,
        place.city,
        place.metro,
        message.platform,
        message.stream_id,
        message.ingest_endpoint,
        message.user_agent,
        message.client_ip,
        delivery.message_id,
    )


def _ads_storage(consent: Consent | None) -> str:
    """GA4's privacy_info.ads_storage: "No" if any ads consent was denied."""
    # TODO: ad_user_data and ad_personalization are folded into one column as
    # GA4's export folds them; two columns would keep them apart.
    if consent is None:
        return ""
    given = (consent.ad_user_data, consent.ad_personalization)
    if _DENIED in given:
        return "No"
    return "Yes" if _GRANTED in given else ""


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


def daily_counts(
    deliveries: list[Delivery], enricher: Enricher | None = None
) -> Counter[tuple[uuid.UUID, dt.date, str]]:
    """Counts per (project, UTC day, metric name) for the daily_metrics table.

    Events of known bots are never counted, whether they are stored or not.
    """
    enricher = enricher or _DEFAULT_ENRICHER
    by_name = Counter(
        (event.project_id, event.timestamp // _MS_PER_DAY, event.event_name)
        for delivery in deliveries
        if not enricher.is_bot(delivery.message)
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
