"""A page's URL split the way GA4's export splits it, with its campaign tags.

``page_location`` becomes hostname, path and query; the query's UTM
parameters and advertising click ids are picked out for the
``collected_traffic_source_*`` columns. A location may be a bare path (what
``/events`` SDKs send as ``path``), which has no hostname: the host of the
request's Origin stands in for it, since browsers send an Origin on every
request whose method is neither GET nor HEAD (Fetch standard, "append a
request `Origin` header"), ``navigator.sendBeacon``'s included.

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
_WEB_SCHEMES = ("http", "https")
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
def parse_page(location: str, default_host: str = "") -> Page:
    """Split ``location`` (a URL or a path); the same string is parsed once.

    ``default_host`` is the hostname of a location that names none.
    """
    if not location:
        return Page("", default_host, "", "", _NO_CAMPAIGN)
    try:
        parts = urlsplit(location)
        hostname = parts.hostname or default_host
    except ValueError:
        # An unparseable URL (a bad port, an unbalanced IPv6 bracket) keeps
        # its location and nothing else.
        return Page(location, "", "", "", _NO_CAMPAIGN)
    return Page(location, hostname, parts.path, parts.query, _tags(parts.query))


@functools.lru_cache(maxsize=_CACHED_PAGES)
def origin_host(origin: str) -> str:
    """The lower-case host of an http(s) origin; "" for anything else.

    An origin is serialized as scheme, host and optional port, nothing more
    (RFC 6454, section 6.2). A privacy-sensitive request sends ``null``
    (Fetch standard), which names no host, and so does any other scheme
    (``file:``, ``chrome-extension:``) or a value with a path or user info.
    """
    try:
        parts = urlsplit(origin)
        host, _port = parts.hostname, parts.port  # a bad port raises ValueError
    except ValueError:
        return ""
    bare = f"{parts.scheme}://{parts.netloc}".lower() == origin.lower()
    if parts.scheme not in _WEB_SCHEMES or not bare or "@" in parts.netloc:
        return ""
    return host or ""


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
