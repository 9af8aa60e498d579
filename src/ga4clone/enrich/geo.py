"""Country, region and city of a client address from a MaxMind-format database.

The database (GeoLite2-City, GeoIP2-City or any .mmdb with the same record
layout) is opened once, memory-mapped, and read for the life of the worker.
The API queues client addresses anonymized to /24 (IPv4) or /48 (IPv6) by
default, which usually keeps the city; a lookup is cached per address, and
anonymized addresses repeat a lot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import maxminddb

from ga4clone.enrich.regions import MAXMIND_CONTINENTS

log = logging.getLogger(__name__)

_CACHED_ADDRESSES = 16_384


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is: GA4's continent names, ISO codes, an English city."""

    continent: str = ""
    sub_continent: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    metro: str = ""


NOWHERE = Place()


class GeoLookup:
    """Answers :meth:`place` from one open .mmdb file."""

    def __init__(self, path: str) -> None:
        self._reader = maxminddb.open_database(path)
        self.place: Callable[[str], Place] = functools.lru_cache(
            maxsize=_CACHED_ADDRESSES
        )(self._place)

    def _place(self, address: str) -> Place:
        if not address:
            return NOWHERE
        try:
            record = self._reader.get(address)
        except ValueError:
            return NOWHERE
        return _to_place(record) if isinstance(record, dict) else NOWHERE

    def close(self) -> None:
        self._reader.close()


def _to_place(record: dict[str, Any]) -> Place:
    country = _code(record, "country", "iso_code")
    subdivisions = record.get("subdivisions") or [{}]
    region = subdivisions[0].get("iso_code", "") if subdivisions else ""
    return Place(
        continent=MAXMIND_CONTINENTS.get(_code(record, "continent", "code"), ""),
        # TODO: MaxMind has no sub-continent; a country -> UN M49 table would.
        sub_continent="",
        country=country,
        # ISO 3166-2, as the Measurement Protocol's region_id ("US-CA").
        region=f"{country}-{region}" if country and region else "",
        city=str(record.get("city", {}).get("names", {}).get("en", "")),
        metro=str(record.get("location", {}).get("metro_code", "") or ""),
    )


def _code(record: dict[str, Any], part: str, key: str) -> str:
    value = record.get(part, {})
    return str(value.get(key, "")) if isinstance(value, dict) else ""
