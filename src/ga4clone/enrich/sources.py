"""Which source and medium brought a visit: GA4's traffic source, per event.

The rules, first match wins (docs/enrichment.md has the table):

1. UTM tags on the page (utm_source / utm_medium / utm_campaign): as tagged.
2. An advertising click id (gclid, msclkid, ...): :data:`CLICK_IDS`.
3. No referrer: ``(direct)`` / ``(none)``.
4. A referrer on the page's own host, ``www.`` aside: ``(internal)`` / ``(none)``.
5. An Android app referrer: :data:`APPS`, else its package / ``referral``.
6. A known referrer host: :data:`DOMAINS`, then :data:`SEARCH_BRANDS`.
7. Any other host: the host / ``referral``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ga4clone.enrich.pages import Referrer
from ga4clone.enrich.sources_data import (
    APPS,
    CLICK_IDS,
    DOMAINS,
    ORGANIC,
    SEARCH_BRANDS,
)

DIRECT = ("(direct)", "(none)")
INTERNAL = ("(internal)", "(none)")
NOT_SET = "(not set)"
REFERRAL = "referral"
_CACHED_HOSTS = 4096
# What may follow a search engine's brand label: "com", or a country code
# top-level domain alone or under "co." / "com." (google.de, google.co.uk,
# google.com.au). Every two-letter top-level domain is a country code (IANA
# keeps them for ISO 3166-1), so google.evil.com or bing.example.org do not
# match.
# TODO: a country whose "co." or "com." is not a public suffix (co.de is an
# ordinary domain) would let its owner pass as the brand; the Public Suffix
# List, bundled, would decide exactly.
_BRAND_SUFFIX = re.compile(r"com|(?:co\.|com\.)?[a-z]{2}")


@dataclass(frozen=True, slots=True)
class Source:
    """GA4's traffic_source: source, medium and campaign name."""

    source: str
    medium: str
    name: str


def classify(tags: dict[str, str], referrer: Referrer, page_host: str) -> Source:
    """The source of a visit from the page's tags and its referrer."""
    campaign = tags.get("utm_campaign", "")
    if "utm_source" in tags or "utm_medium" in tags:
        return Source(
            tags.get("utm_source", NOT_SET), tags.get("utm_medium", NOT_SET), campaign
        )
    for key, (source, medium) in CLICK_IDS.items():
        if key in tags:
            return Source(source, medium, campaign)
    source, medium = _from_referrer(referrer, page_host)
    return Source(source, medium, campaign)


def _from_referrer(referrer: Referrer, page_host: str) -> tuple[str, str]:
    if referrer.app:
        return APPS.get(referrer.app, (referrer.app, REFERRAL))
    if not referrer.host:
        return DIRECT
    if _site(referrer.host) == _site(page_host):
        return INTERNAL
    return referrer_source(referrer.host)


def _site(host: str) -> str:
    """A host with one leading ``www.`` removed: www.shop.example is shop.example."""
    return host.removeprefix("www.")


@functools.lru_cache(maxsize=_CACHED_HOSTS)
def referrer_source(host: str) -> tuple[str, str]:
    """(source, medium) of a referrer hostname by the rule table."""
    labels = _site(host).split(".")
    for start in range(len(labels) - 1):
        known = DOMAINS.get(".".join(labels[start:]))
        if known is not None:
            return known
    brand = _search_brand(labels)
    if brand is not None:
        return brand, ORGANIC
    return _site(host), REFERRAL


def _search_brand(labels: list[str]) -> str | None:
    """The search engine whose brand label is followed only by its suffix."""
    # The brand is the label before a suffix of one or two labels; labels in
    # front of it are its subdomains (search.yahoo.co.jp, images.google.de).
    for index in (len(labels) - 2, len(labels) - 3):
        if index < 0:
            continue
        brand = SEARCH_BRANDS.get(labels[index])
        if brand is not None and _BRAND_SUFFIX.fullmatch(".".join(labels[index + 1 :])):
            return brand
    return None
