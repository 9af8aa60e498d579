"""What ``/mp/collect`` counts: events accepted, refused and dropped as invalid.

Accepted and refused events go to the families ``/events`` updates
(``ga4clone_events_accepted_total``, ``ga4clone_events_rejected_total{reason}``,
with its reason words); events dropped one by one as invalid, which GA4
answers 2xx for, to the Measurement Protocol's own
``ga4clone_mp_events_dropped_total{reason}``, by validation code.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter

from ga4clone.telemetry import record_accepted, record_refused

EVENTS_DROPPED = Counter(
    "ga4clone_mp_events_dropped_total",
    "Measurement Protocol events dropped as invalid, by validation code.",
    ["reason"],
)
__all__ = ["record_accepted", "record_dropped", "record_refused"]


def record_dropped(dropped: Tally[str]) -> None:
    """Count dropped events; the reasons are GA4's few validation codes."""
    for reason, events in dropped.items():
        EVENTS_DROPPED.labels(reason).inc(events)
