"""Geo enrichment from a tiny MaxMind-format database built by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from ga4clone.enrich.geo import NOWHERE, GeoLookup, Place

BERLIN = {
    "continent": {"code": "EU"},
    "country": {"iso_code": "DE"},
    "subdivisions": [{"iso_code": "BE"}],
    "city": {"names": {"en": "Berlin"}},
}


def write_database(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    writer.insert_network(IPSet(["198.51.100.0/24"]), BERLIN)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geo(tmp_path: Path) -> Iterator[GeoLookup]:
    lookup = GeoLookup(str(write_database(tmp_path / "city.mmdb")))
    yield lookup
    lookup.close()


def test_an_anonymized_address_is_found_at_city_level(geo: GeoLookup) -> None:
    assert geo.place("198.51.100.0") == Place(
        continent="EU", country="DE", region="DE-BE", city="Berlin"
    )


@pytest.mark.parametrize("address", ["203.0.113.9", "", "not an address"])
def test_unknown_or_missing_addresses_are_nowhere(geo: GeoLookup, address: str) -> None:
    assert geo.place(address) == NOWHERE
