"""The dimensions and metrics a report may name, and the SQL each stands for.

This allowlist is the only place SQL is written from a name: a request's
dimension and metric names are looked up here and nothing else of theirs
reaches the query text.

A dimension is an expression over one row of ``events``. A metric is an
aggregate over the *facts* the base query projects per event (``_user``,
``_page_view`` ...), given twice: once over events, and once over one row per
session (``_events``, ``_page_views`` ...) for reports that need a
session-level pass (see :data:`SESSION_FACTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ga4clone.reports.countries import COUNTRY_NAMES


class MetricType(StrEnum):
    """GA4's metric types used by this API."""

    INTEGER = "TYPE_INTEGER"
    FLOAT = "TYPE_FLOAT"
    SECONDS = "TYPE_SECONDS"


@dataclass(frozen=True)
class Dimension:
    """A groupable value of one event; ``params`` are the constants ``sql`` binds."""

    api_name: str
    ui_name: str
    description: str
    sql: str
    realtime: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """An aggregate; ``events_sql`` over event facts, ``sessions_sql`` over sessions."""

    api_name: str
    ui_name: str
    description: str
    type: MetricType
    events_sql: str
    sessions_sql: str
    needs_sessions: bool = False
    realtime: bool = False


def _not_set(column: str) -> str:
    # GA4 shows a missing value as "(not set)"; filters see what is shown.
    return f"if(empty({column}), '(not set)', {column})"


def _translated(
    api_name: str, ui_name: str, description: str, column: str, table: dict[str, str]
) -> Dimension:
    """A realtime dimension that shows ``column``'s stored values through ``table``.

    transform() looks the value up in two bound arrays (constants to 18.16 and
    to current servers alike); a value the table lacks is shown as stored.
    """
    # TODO: clickhouse-driver writes bound arrays into the SQL text at each use
    # (5 kB for the countries), so some 50 uses in one query, such as an
    # orGroup of 12 country filters over 4 date ranges, would pass 18.16's
    # max_query_size (256 KiB); one WITH clause per period would bind them once.
    shown = {"": "(not set)", **table}
    codes, names = f"{api_name}_codes", f"{api_name}_names"
    sql = (
        f"transform({column}, {{{codes}:Array(String)}}, "
        f"{{{names}:Array(String)}}, {column})"
    )
    params = {codes: list(shown), names: list(shown.values())}
    return Dimension(api_name, ui_name, description, sql, realtime=True, params=params)


# The platform column holds the data stream's platform as GA4's export writes
# it, empty for /events; the Data API's platform dimension names it otherwise.
PLATFORM_NAMES = {"WEB": "web", "IOS": "iOS", "ANDROID": "Android"}


def _param(key: str, column: str) -> str:
    """The ``column`` value (int_value, ...) of event parameter ``key``, or NULL."""
    return f"event_params.{column}[indexOf(event_params.key, '{key}')]"


_SECOND = "toDateTime(intDiv(event_timestamp, 1000000), 'UTC')"
_DIMENSIONS = [
    Dimension(
        "date",
        "Date",
        "The event's UTC day, formatted YYYYMMDD.",
        "toString(toYYYYMMDD(event_date))",
    ),
    Dimension(
        "dateHour",
        "Date + hour (YYYYMMDDHH)",
        "The event's UTC day and hour, formatted YYYYMMDDHH.",
        f"toString(intDiv(toYYYYMMDDhhmmss({_SECOND}), 10000))",
    ),
    Dimension(
        "eventName",
        "Event name",
        "The name of the event.",
        _not_set("event_name"),
        realtime=True,
    ),
    Dimension(
        "pagePath",
        "Page path",
        "The path of the page the event happened on (page_path).",
        _not_set("page_path"),
    ),
    Dimension(
        "pageTitle",
        "Page title",
        "The title of the page the event happened on (page_title).",
        _not_set("page_title"),
    ),
    Dimension(
        "hostName",
        "Hostname",
        "The host name of the page the event happened on (page_hostname).",
        _not_set("page_hostname"),
    ),
    Dimension(
        "pageReferrer",
        "Page referrer",
        "The referring URL the event carried (page_referrer).",
        _not_set("page_referrer"),
    ),
    Dimension(
        "sessionSource",
        "Session source",
        "The traffic source classified for the event's visit "
        "(traffic_source_source), taken from the event itself.",
        _not_set("traffic_source_source"),
    ),
    Dimension(
        "sessionMedium",
        "Session medium",
        "The traffic medium classified for the event's visit "
        "(traffic_source_medium), taken from the event itself.",
        _not_set("traffic_source_medium"),
    ),
    Dimension(
        "sessionCampaignName",
        "Session campaign",
        "The campaign name classified for the event's visit "
        "(traffic_source_name), taken from the event itself.",
        _not_set("traffic_source_name"),
    ),
    _translated(
        "country",
        "Country",
        "The English name of the country the event came from (geo_country "
        "holds its ISO 3166-1 code), as GA4 writes it: United States, "
        "South Korea ...",
        "geo_country",
        COUNTRY_NAMES,
    ),
    Dimension(
        "countryId",
        "Country ID",
        "The ISO 3166-1 alpha-2 code of the country the event came from "
        "(geo_country): US, KR ...",
        _not_set("geo_country"),
        realtime=True,
    ),
    Dimension(
        "city",
        "City",
        "The city the event came from (geo_city).",
        _not_set("geo_city"),
        realtime=True,
    ),
    Dimension(
        "deviceCategory",
        "Device category",
        "desktop, mobile, tablet ... (device_category).",
        _not_set("device_category"),
        realtime=True,
    ),
    Dimension(
        "browser",
        "Browser",
        "The browser that sent the event (device_browser).",
        _not_set("device_browser"),
    ),
    Dimension(
        "operatingSystem",
        "Operating system",
        "The operating system that sent the event (device_operating_system).",
        _not_set("device_operating_system"),
        realtime=True,
    ),
    _translated(
        "platform",
        "Platform",
        "The platform of the data stream that sent the event: web, iOS or "
        "Android ((not set) for events sent to /events).",
        "platform",
        PLATFORM_NAMES,
    ),
]

# The per-event facts metrics aggregate; the base query projects each under its
# name. session_engaged may arrive as the string '1' or the integer 1. has()
# rather than IN: 18.16 refuses a UNION ALL (several date or minute ranges)
# whose branches project `x IN (literals)` (code 171, "non constant in source
# stream but must be constant in result").
EVENT_FACTS = {
    "_user": "user_pseudo_id",
    "_session": "session_id",
    "_page_view": "has(['page_view', 'screen_view'], event_name)",
    "_first_visit": "has(['first_visit', 'first_open'], event_name)",
    "_engagement_ms": (
        f"coalesce(toFloat64({_param('engagement_time_msec', 'int_value')}), "
        f"{_param('engagement_time_msec', 'double_value')}, 0)"
    ),
    "_engaged_flag": (
        f"ifNull({_param('session_engaged', 'string_value')} = '1', 0) "
        f"OR ifNull({_param('session_engaged', 'int_value')} = 1, 0)"
    ),
}

# One row per (report row, user, session): what the session-level pass keeps.
SESSION_FACTS = {
    "_events": "count()",
    "_page_views": "sum(_page_view)",
    "_first_visit": "max(_first_visit)",
    "_engagement_ms": "sum(_engagement_ms)",
    "_engaged_flag": "max(_engaged_flag)",
}

_SESSIONS = "uniqExact(_user, _session)"
_ENGAGED = "_engaged_flag OR _engagement_ms >= 10000 OR _page_views >= 2"
_METRICS = [
    Metric(
        "eventCount",
        "Event count",
        "Events, each event_id counted once.",
        MetricType.INTEGER,
        "count()",
        "sum(_events)",
        realtime=True,
    ),
    Metric(
        "activeUsers",
        "Active users",
        "Distinct user_pseudo_id with any event. GA4 counts only users with "
        "an engaged session or a first visit; here every user who sent an "
        "event is active, so activeUsers equals totalUsers.",
        MetricType.INTEGER,
        "uniqExact(_user)",
        "uniqExact(_user)",
        realtime=True,
    ),
    Metric(
        "totalUsers",
        "Total users",
        "Distinct user_pseudo_id with any event.",
        MetricType.INTEGER,
        "uniqExact(_user)",
        "uniqExact(_user)",
    ),
    Metric(
        "newUsers",
        "New users",
        "Distinct user_pseudo_id with a first_visit or first_open event.",
        MetricType.INTEGER,
        "uniqExactIf(_user, _first_visit)",
        "uniqExactIf(_user, _first_visit)",
    ),
    Metric(
        "sessions",
        "Sessions",
        "Distinct (user_pseudo_id, session_id) pairs.",
        MetricType.INTEGER,
        _SESSIONS,
        "count()",
    ),
    Metric(
        "screenPageViews",
        "Views",
        "page_view and screen_view events.",
        MetricType.INTEGER,
        "sum(_page_view)",
        "sum(_page_views)",
        realtime=True,
    ),
    Metric(
        "eventsPerSession",
        "Events per session",
        "eventCount / sessions.",
        MetricType.FLOAT,
        f"count() / {_SESSIONS}",
        "sum(_events) / count()",
    ),
    Metric(
        "screenPageViewsPerSession",
        "Views per session",
        "screenPageViews / sessions.",
        MetricType.FLOAT,
        f"sum(_page_view) / {_SESSIONS}",
        "sum(_page_views) / count()",
    ),
    Metric(
        "userEngagementDuration",
        "User engagement",
        "The sum of the engagement_time_msec event parameter, in seconds.",
        MetricType.SECONDS,
        "sum(_engagement_ms) / 1000",
        "sum(_engagement_ms) / 1000",
    ),
    Metric(
        "engagedSessions",
        "Engaged sessions",
        "Sessions with a session_engaged = 1 parameter, or at least 10 s of "
        "engagement_time_msec, or at least 2 page_view/screen_view events; a "
        "session is judged on its events within the report row (in totals, on "
        "all its events of the date range).",
        MetricType.INTEGER,
        "",
        f"countIf({_ENGAGED})",
        needs_sessions=True,
    ),
]

DIMENSIONS: dict[str, Dimension] = {d.api_name: d for d in _DIMENSIONS}
METRICS: dict[str, Metric] = {m.api_name: m for m in _METRICS}

# The dimension GA4 adds when a report has several date or minute ranges.
DATE_RANGE = "dateRange"
