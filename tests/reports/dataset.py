"""A generated set of events and the numbers expected of it, computed in Python.

The rows carry every column the reports read, so they need no enrichment; a
share of them is inserted twice (a redelivered batch) to prove reports count
each event_id once, and crawlers' events are stored flagged ``is_bot`` to
prove reports leave them out. ``expected`` is an evaluator independent of the
SQL: it groups the unique events in Python with the definitions of
docs/reports.md.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
PROJECT = "5d1f3e36-8a51-4d4e-9a0b-1f6c3c0d7a01"
OTHER_PROJECT = "9c0a7e52-2b9d-4c61-8f3e-7d2a5b4c1e02"
DAYS = 21

_PAGES = [
    ("/", "Home"),
    ("/products/shoes", "Shoes"),
    ("/Products/Shoes", "Shoes (old link)"),
    ("/products/hats", "Hats"),
    ("/blog/it's-here", "It's here"),
    ("/files/back\\slash", ""),
    ("/checkout", "Checkout"),
]
# geo_country holds ISO 3166-1 codes, as the pipeline stores them; the names
# GA4 shows for them are written out here, apart from the code under test.
COUNTRY_NAMES = {
    "DE": "Germany",
    "US": "United States",
    "KR": "South Korea",
    "RU": "Russia",
    "GB": "United Kingdom",
}
_COUNTRIES = [
    ("DE", "Berlin"),
    ("US", "New York"),
    ("KR", "Seoul"),
    ("RU", "Moscow"),
    ("GB", "London"),
    ("", ""),
]
# platform holds the data stream's platform (MP) or nothing (/events).
PLATFORM_NAMES = {"WEB": "web", "IOS": "iOS", "ANDROID": "Android"}
_DEVICES = [
    ("desktop", "Chrome", "Windows", ""),
    ("desktop", "Edge", "Windows", "WEB"),
    ("mobile", "Safari", "iOS", "IOS"),
    ("mobile", "", "Android", "ANDROID"),
    ("tablet", "Firefox", "Linux", "WEB"),
]
# Some campaigns are named by number, so that NUMERIC order differs from
# ALPHANUMERIC order ("-7" < "0120" < "1021" < "95"), and from numbers alone:
# GA4 ranks "-7" above the names that are no numbers.
_SOURCES = [
    ("google", "organic", ""),
    ("newsletter", "email", "spring_sale"),
    ("google", "cpc", "95"),
    ("google", "cpc", "0120"),
    ("bing", "cpc", "1021"),
    ("partner", "affiliate", "-7"),
    ("(direct)", "(none)", ""),
    ("", "", ""),
]
_NAMES = ["page_view", "page_view", "page_view", "scroll", "click", "purchase"]


@dataclass
class Event:
    """One row of ``events``, with the columns reports read."""

    project_id: str
    event_id: str
    event_name: str
    event_timestamp: int
    user_pseudo_id: str
    session_id: str
    page_path: str
    page_title: str
    page_hostname: str
    page_referrer: str
    geo_country: str
    geo_city: str
    device_category: str
    device_browser: str
    device_operating_system: str
    platform: str
    traffic_source_source: str
    traffic_source_medium: str
    traffic_source_name: str
    params: dict[str, str | int | float] = field(default_factory=dict)
    is_bot: bool = False

    @property
    def moment(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.event_timestamp / 1e6, dt.UTC)

    @property
    def engagement_ms(self) -> float:
        return float(self.params.get("engagement_time_msec", 0))

    @property
    def engaged_flag(self) -> bool:
        return str(self.params.get("session_engaged", "")) == "1"


def generate(seed: int = 7) -> tuple[list[Event], list[Event]]:
    """(events, redelivered copies of some of them) of two projects."""
    rng = random.Random(seed)
    events: list[Event] = []
    for project, users in ((PROJECT, 150), (OTHER_PROJECT, 40)):
        for user in range(users):
            events += _user_events(rng, project, f"{user}.{seed}{user * 7919}")
    events += _recent_events(rng)
    copies = rng.sample(events, len(events) // 20)
    return events + _bot_events(random.Random(seed + 1)), copies


def _bot_events(rng: random.Random) -> list[Event]:
    """Events of crawlers, stored with is_bot = 1 and never counted."""
    events = []
    for bot in range(12):
        events += _user_events(rng, PROJECT, f"bot{bot}")
    events += [e for e in _recent_events(rng) if rng.random() < 0.3]
    for event in events:
        event.is_bot = True
        event.user_pseudo_id = "bot." + event.user_pseudo_id
    return events


def _user_events(rng: random.Random, project: str, user: str) -> list[Event]:
    country, city = rng.choice(_COUNTRIES)
    device = rng.choice(_DEVICES)
    is_new = rng.random() < 0.6
    first_day = rng.randrange(1, DAYS)
    events = []
    for number in range(rng.randint(1, 3)):
        day = min(DAYS, first_day + number * rng.randint(1, 5))
        start = dt.datetime.combine(
            TODAY - dt.timedelta(days=DAYS - day), dt.time(rng.randrange(24))
        ).replace(tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(50))
        source = rng.choice(_SOURCES)
        names = ["session_start"] + [
            rng.choice(_NAMES) for _ in range(rng.randint(0, 8))
        ]
        if is_new and number == 0:
            names.insert(0, "first_visit")
        if rng.random() < 0.5:
            names.append("user_engagement")
        session_id = str(int(start.timestamp()))
        for index, name in enumerate(names):
            moment = start + dt.timedelta(seconds=index * rng.randint(1, 40))
            events.append(
                _event(rng, project, user, session_id, name, moment, country, city)
                | _Columns(device, source)
            )
    return events


def _recent_events(rng: random.Random) -> list[Event]:
    """Events of the last 40 minutes before NOW, for realtime reports."""
    events = []
    for index in range(60):
        moment = NOW - dt.timedelta(seconds=rng.randrange(40 * 60))
        country, city = rng.choice(_COUNTRIES)
        user = f"rt{index % 17}"
        name = rng.choice(_NAMES)
        event = _event(rng, PROJECT, user, "rt" + user, name, moment, country, city)
        events.append(event | _Columns(rng.choice(_DEVICES), rng.choice(_SOURCES)))
    return events


@dataclass
class _Columns:
    device: tuple[str, str, str, str]
    source: tuple[str, str, str]

    def __ror__(self, event: Event) -> Event:
        (
            event.device_category,
            event.device_browser,
            event.device_operating_system,
            event.platform,
        ) = self.device
        (
            event.traffic_source_source,
            event.traffic_source_medium,
            event.traffic_source_name,
        ) = self.source
        return event


def _event(
    rng: random.Random,
    project: str,
    user: str,
    session_id: str,
    name: str,
    moment: dt.datetime,
    country: str,
    city: str,
) -> Event:
    path, title = rng.choice(_PAGES)
    params: dict[str, str | int | float] = {}
    if name in ("user_engagement", "scroll"):
        params["engagement_time_msec"] = rng.choice([800, 2500, 6000, 12000])
    if rng.random() < 0.1:
        params["session_engaged"] = rng.choice(["1", 1, "0"])
    if name == "purchase":
        params["value"] = round(rng.uniform(5, 200), 2)
    return Event(
        project_id=project,
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_name=name,
        event_timestamp=int(moment.timestamp() * 1_000_000) + rng.randrange(1000),
        user_pseudo_id=user,
        session_id=session_id,
        page_path=path,
        page_title=title,
        page_hostname=rng.choice(["shop.example", "www.shop.example"]),
        page_referrer=rng.choice(["", "https://www.google.com/", "https://t.co/x"]),
        geo_country=country,
        geo_city=city,
        device_category="",
        device_browser="",
        device_operating_system="",
        platform="",
        traffic_source_source="",
        traffic_source_medium="",
        traffic_source_name="",
        params=params,
    )


# --- SQL text -------------------------------------------------------------------

_COLUMNS = [
    "project_id", "event_date", "event_name", "event_id", "event_timestamp",
    "received_timestamp", "user_pseudo_id", "session_id", "page_path", "page_title",
    "page_hostname", "page_referrer", "geo_country", "geo_city", "device_category",
    "device_browser", "device_operating_system", "platform", "traffic_source_source",
    "traffic_source_medium", "traffic_source_name", "`event_params.key`",
    "`event_params.string_value`", "`event_params.int_value`",
    "`event_params.double_value`", "is_bot",
]  # fmt: skip


def insert_sql(events: Iterable[Event]) -> str:
    """One INSERT statement holding the events as SQL literals."""
    values = ",\n".join(_values(event) for event in events)
    return f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES\n{values}"


def _values(event: Event) -> str:
    keys = list(event.params)
    strings = [v if isinstance(v, str) else None for v in event.params.values()]
    ints = [v if isinstance(v, int) else None for v in event.params.values()]
    doubles = [v if isinstance(v, float) else None for v in event.params.values()]
    fields: list[Any] = [
        event.project_id, event.moment.date().isoformat(), event.event_name,
        event.event_id, event.event_timestamp, event.event_timestamp,
        event.user_pseudo_id, event.session_id, event.page_path, event.page_title,
        event.page_hostname, event.page_referrer, event.geo_country, event.geo_city,
        event.device_category, event.device_browser, event.device_operating_system,
        event.platform, event.traffic_source_source, event.traffic_source_medium,
        event.traffic_source_name, keys, strings, ints, doubles, int(event.is_bot),
    ]  # fmt: skip
    return "(" + ", ".join(_literal(v) for v in fields) + ")"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


# --- the expected answers ---------------------------------------------------------


def _not_set(value: str) -> str:
    return value or "(not set)"


DIMENSIONS: dict[str, Callable[[Event], str]] = {
    "date": lambda e: e.moment.strftime("%Y%m%d"),
    "dateHour": lambda e: e.moment.strftime("%Y%m%d%H"),
    "eventName": lambda e: e.event_name,
    "pagePath": lambda e: _not_set(e.page_path),
    "pageTitle": lambda e: _not_set(e.page_title),
    "hostName": lambda e: _not_set(e.page_hostname),
    "pageReferrer": lambda e: _not_set(e.page_referrer),
    "sessionSource": lambda e: _not_set(e.traffic_source_source),
    "sessionMedium": lambda e: _not_set(e.traffic_source_medium),
    "sessionCampaignName": lambda e: _not_set(e.traffic_source_name),
    "country": lambda e: _not_set(COUNTRY_NAMES.get(e.geo_country, e.geo_country)),
    "countryId": lambda e: _not_set(e.geo_country),
    "city": lambda e: _not_set(e.geo_city),
    "deviceCategory": lambda e: _not_set(e.device_category),
    "browser": lambda e: _not_set(e.device_browser),
    "operatingSystem": lambda e: _not_set(e.device_operating_system),
    "platform": lambda e: _not_set(PLATFORM_NAMES.get(e.platform, e.platform)),
}


def _engaged(events: list[Event]) -> bool:
    views = sum(e.event_name in ("page_view", "screen_view") for e in events)
    engagement = sum(e.engagement_ms for e in events)
    flagged = any(e.engaged_flag for e in events)
    return flagged or engagement >= 10_000 or views >= 2


def metric_value(name: str, events: list[Event]) -> float:
    """One metric over a group of unique events, as docs/reports.md defines it."""
    users = {e.user_pseudo_id for e in events}
    sessions: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        sessions[event.user_pseudo_id, event.session_id].append(event)
    views = sum(e.event_name in ("page_view", "screen_view") for e in events)
    values: dict[str, Callable[[], float]] = {
        "eventCount": lambda: len(events),
        "activeUsers": lambda: len(users),
        "totalUsers": lambda: len(users),
        "newUsers": lambda: len(
            {e.user_pseudo_id for e in events if e.event_name == "first_visit"}
        ),
        "sessions": lambda: len(sessions),
        "screenPageViews": lambda: views,
        "eventsPerSession": lambda: len(events) / len(sessions),
        "screenPageViewsPerSession": lambda: views / len(sessions),
        "userEngagementDuration": lambda: sum(e.engagement_ms for e in events) / 1000,
        "engagedSessions": lambda: sum(_engaged(s) for s in sessions.values()),
    }
    return values[name]()


Row = tuple[tuple[str, ...], tuple[float, ...]]


def expected(
    events: Iterable[Event],
    dimensions: list[str],
    metrics: list[str],
    *,
    start: dt.date,
    end: dt.date,
    where: Callable[[Event], bool] = lambda e: True,
    keep_empty_rows: bool = False,
) -> list[Row]:
    """The rows of a one-date-range report on PROJECT, bots left out, in no
    particular order."""
    groups: dict[tuple[str, ...], list[Event]] = defaultdict(list)
    for event in unique(events):
        in_range = start <= event.moment.date() <= end
        counted = event.project_id == PROJECT and not event.is_bot
        if counted and in_range and where(event):
            groups[tuple(DIMENSIONS[d](event) for d in dimensions)].append(event)
    rows = []
    for key, group in groups.items():
        values = tuple(float(metric_value(m, group)) for m in metrics)
        if keep_empty_rows or any(values):
            rows.append((key, values))
    return rows


def unique(events: Iterable[Event]) -> list[Event]:
    """One event per event_id."""
    return list({e.event_id: e for e in events}.values())
