"""Which source and medium brought a visit: GA4's traffic source, per event.

The rules, first match wins (docs/enrichment.md has the table):

1. UTM tags on the page (utm_source / utm_medium / utm_campaign): as tagged.
2. An advertising click id (gclid, msclkid, ...): :data:`CLICK_IDS`.
3. No referrer: ``(direct)`` / ``(none)``.
4. A referrer on the page's own host: ``(internal)`` / ``(none)``.
5. A known referrer host: :data:`DOMAINS`, then :data:`SEARCH_BRANDS`.
6. Any other host: the host / ``referral``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ga4clone.enrich.sources_data import CLICK_IDS, DOMAINS, ORGANIC, SEARCH_BRANDS

DIRECT = ("(direct)", "(none)")
INTERNAL = ("(internal)", "(none)")
NOT_SET = "(not set)"
_CACHED_HOSTS = 4096


@dataclass(frozen=True, slots=True)
class Source:
    """GA4's traffic_source: source, medium and campaign name."""

    source: str
    medium: str
    name: str


def classify(tags: dict[str, str], referrer: str, page_host: str) -> Source:
    """The source of a visit from the page's tags and the referrer's hostname."""
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


def _from_referrer(host: str, page_host: str) -> tuple[str, str]:
    if not host:
        return DIRECT
    if host == page_host:
        return INTERNAL
    return referrer_source(host)


@functools.lru_cache(maxsize=_CACHED_HOSTS)
def referrer_source(host: str) -> tuple[str, str]:
    """(source, medium) of a referrer hostname by the rule table."""
    labels = host.removeprefix("www.").split(".")
    for start in range(len(labels) - 1):
        known = DOMAINS.get(".".join(labels[start:]))
        if known is not None:
            return known
    # The brand label sits before a public suffix of one or two labels
    # (google.de, google.co.uk); earlier labels are subdomains.
    for label in labels[-3:-1]:
        brand = SEARCH_BRANDS.get(label)
        if brand is not None:
            return brand, ORGANIC
    return host.removeprefix("www."), "referral"
