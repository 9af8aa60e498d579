"""Enrichment of stored events: device, bot flag, page, traffic source and geo.

The worker enriches each event once, at flush time, from what the API queued:
the User-Agent, the (anonymized) client address, the page and the referrer,
and what a Measurement Protocol sender said itself (its ``device`` and
``user_location`` win over what is derived). Everything here is pure but for
reading the geo database once; repeated inputs are answered from LRU caches.
"""

from ga4clone.enrich.enricher import Enriched, Enricher

__all__ = ["Enriched", "Enricher"]
