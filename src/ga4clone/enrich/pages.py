"""A page's URL split the way GA4's export splits it, with its campaign tags.

``page_location`` becomes hostname, path and query; the query's UTM
parameters and advertising click ids are picked out for the
``collected_traffic_source_*`` columns. A location may be a bare path (what
``/events`` SDKs send as ``path``), which has no hostname.

A referrer is a web page, or an Android app: Android names the app that
opened a link as ``android-app://<package name>`` (``Intent.EXTRA_REFERRER``),
and a package name (``com.google.android.gm``) must not be read as a host.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

_CACHED_PAGES = 8192
_APP_SCHEME = "android-app"
_UTM_KEYS = (
    "utm_id",
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
)
# Click ids of Google Ads (gclid, wbraid, gbraid), Display & Video 360
# (dclid), Merchant Center (srsltid), Microsoft Ads (msclkid) and Meta (fbclid).
CLICK_ID_KEYS = ("gclid", "dclid", "srsltid", "wbraid", "gbraid", "msclkid", "fbclid")
_NO_CAMPAIGN: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Page:
    """A page location in parts; ``tags`` holds its UTM values and click ids."""

    location: str
    hostname: str
    path: str
    query: str
    tags: dict[str, str]


@functools.lru_cache(maxsize=_CACHED_PAGES)
def parse_page(location: str) -> Page:
    """Split ``location`` (a URL or a path); the same string is parsed once."""
    if not location:
        return Page("", "", "", "", _NO_CAMPAIGN)
    try:
        parts = urlsplit(location)
        hostname = parts.hostname or ""
    except ValueError:
        # An unparseable URL (a bad port, an unbalanced IPv6 bracket) keeps
        # its location and nothing else.
        return Page(location, "", "", "", _NO_CAMPAIGN)
    return Page(location, hostname, parts.path, parts.query, _tags(parts.query))


def _tags(query: str) -> dict[str, str]:
    if not query:
        return _NO_CAMPAIGN
    tags = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        lowered = key.lower()
        if (lowered in _UTM_KEYS or lowered in CLICK_ID_KEYS) and lowered not in tags:
            tags[lowered] = value
    return tags or _NO_CAMPAIGN


@dataclass(frozen=True, slots=True)
class Referrer:
    """Where a visit came from: a web host, or an Android app's package."""

    host: str = ""
    app: str = ""


_NO_REFERRER = Referrer()


@functools.lru_cache(maxsize=_CACHED_PAGES)
def parse_referrer(referrer: str) -> Referrer:
    """The lower-case hostname (or app package) of a referrer URL."""
    if not referrer:
        return _NO_REFERRER
    try:
        parts = urlsplit(referrer)
        host = parts.hostname or ""
    except ValueError:
        return _NO_REFERRER
    if parts.scheme == _APP_SCHEME:
        return Referrer(app=host)
    return Referrer(host=host)
