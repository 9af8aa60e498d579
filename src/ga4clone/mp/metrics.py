"""The Measurement Protocol's own metric: events dropped, by validation code."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter

EVENTS_DROPPED = Counter(
    "ga4clone_mp_events_dropped_total",
    "Measurement Protocol events dropped as invalid, by validation code.",
    ["reason"],
)


def record_dropped(dropped: Tally[str]) -> None:
    """Count dropped events; the reasons are GA4's few validation codes."""
    for reason, events in dropped.items():
        EVENTS_DROPPED.labels(reason).inc(events)
