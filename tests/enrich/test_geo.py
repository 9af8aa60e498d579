"""Geo enrichment from a tiny MaxMind-format database built by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from ga4clone.enrich import Enricher
from ga4clone.enrich.geo import NOWHERE, GeoLookup, Place
from ga4clone.events import Event, EventMessage, UserLocation

BERLIN = {
    "continent": {"code": "EU"},
    "country": {"iso_code": "DE"},
    "subdivisions": [{"iso_code": "BE"}],
    "city": {"names": {"en": "Berlin"}},
}
NETWORKS = {
    "198.51.100.0/24": BERLIN,
    "192.0.2.0/26": {"continent": {"code": "NA"}, "country": {"iso_code": "US"}},
    "192.0.2.64/26": {"continent": {"code": "SA"}, "country": {"iso_code": "BR"}},
    "192.0.2.128/26": {"continent": {"code": "AN"}, "country": {"iso_code": "AQ"}},
}


def write_database(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for network, record in NETWORKS.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geo(tmp_path: Path) -> Iterator[GeoLookup]:
    lookup = GeoLookup(str(write_database(tmp_path / "city.mmdb")))
    yield lookup
    lookup.close()


def test_an_anonymized_address_is_found_at_city_level(geo: GeoLookup) -> None:
    assert geo.place("198.51.100.0") == Place(
        continent="Europe", country="DE", region="DE-BE", city="Berlin"
    )


@pytest.mark.parametrize(
    ("address", "continent"),
    [("192.0.2.1", "Americas"), ("192.0.2.65", "Americas"), ("192.0.2.129", "")],
)
def test_maxmind_continent_codes_are_stored_as_ga4_names(
    geo: GeoLookup, address: str, continent: str
) -> None:
    assert geo.place(address).continent == continent


@pytest.mark.parametrize("address", ["203.0.113.9", "", "not an address"])
def test_unknown_or_missing_addresses_are_nowhere(geo: GeoLookup, address: str) -> None:
    assert geo.place(address) == NOWHERE


def mp_message(**location: Any) -> EventMessage:
    event = Event.model_construct(event_name="e", params={})
    return EventMessage.model_construct(
        received_at_ms=0,
        user_agent="",
        client_ip="",
        events=[event],
        ingest_endpoint="mp",
        device=None,
        user_location=UserLocation(**location),
    )


@pytest.mark.parametrize(
    ("location", "continent", "sub_continent"),
    [
        ({"continent_id": "150", "subcontinent_id": "155"}, "Europe", "Western Europe"),
        (
            {"continent_id": "019", "subcontinent_id": "021"},
            "Americas",
            "Northern America",
        ),
        ({"continent_id": "142", "subcontinent_id": "035"}, "Asia", "Southeast Asia"),
        ({"continent_id": "999", "subcontinent_id": "998"}, "", ""),
    ],
)
def test_a_senders_m49_codes_are_stored_as_the_same_names(
    location: dict[str, str], continent: str, sub_continent: str
) -> None:
    place = Enricher().visitor(mp_message(**location)).place

    assert (place.continent, place.sub_continent) == (continent, sub_continent)


def test_the_senders_country_and_city_are_kept_as_given() -> None:
    place = Enricher().visitor(mp_message(country_id="FR", city="Lyon")).place

    assert (place.country, place.city) == ("FR", "Lyon")
