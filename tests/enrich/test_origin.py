"""The request's Origin as the host of a page sent as a bare path."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ga4clone.enrich import Enricher
from ga4clone.enrich.pages import origin_host
from ga4clone.events import Event

PROJECT = uuid.UUID("4c1e9a7b-2f0d-4e6a-8b3c-5d7f9e1a2b3c")


def event(**fields: Any) -> Event:
    values: dict[str, Any] = {
        "projectId": str(PROJECT),
        "eventName": "page_view",
        "timestamp": 1_700_000_000_000,
        "clientId": "c1",
        "sessionId": "s1",
        "path": "/products/shoes",
        **fields,
    }
    return Event.model_validate(values)


def facts(origin: str | None, **fields: Any) -> tuple[str, str, str]:
    """Page hostname, traffic source and medium of one enriched event."""
    enriched = Enricher().page(event(**fields), origin)
    return enriched.page.hostname, enriched.source.source, enriched.source.medium


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://shop.example", "shop.example"),
        ("http://shop.example:8080", "shop.example"),
        ("HTTPS://Shop.Example", "shop.example"),
        ("https://[2001:db8::1]:8443", "2001:db8::1"),
        ("null", ""),
        ("", ""),
        ("file://", ""),
        ("chrome-extension://abcdefghijklmnop", ""),
        ("https://shop.example/page", ""),
        ("https://shop.example/", ""),
        ("https://shop.example?x=1", ""),
        ("https://user@shop.example", ""),
        ("https://shop.example:99999", ""),
        ("https://[2001:db8::1", ""),
        ("shop.example", ""),
        ("https://", ""),
    ],
)
def test_only_a_web_origin_names_a_host(origin: str, host: str) -> None:
    assert origin_host(origin) == host


def test_a_bare_path_takes_the_origins_host() -> None:
    enriched = Enricher().page(event(), "https://shop.example")

    assert enriched.page.hostname == "shop.example"
    assert (enriched.page.location, enriched.page.path) == (
        "/products/shoes",
        "/products/shoes",
    )


def test_a_referrer_from_the_origins_site_is_internal() -> None:
    found = facts("https://www.shop.example", referrer="https://shop.example/cart")

    assert found == ("www.shop.example", "(internal)", "(none)")


def test_without_an_origin_the_own_site_stays_a_referral() -> None:
    found = facts(None, referrer="https://shop.example/cart")

    assert found == ("", "shop.example", "referral")


def test_a_null_origin_is_ignored() -> None:
    found = facts("null", referrer="https://shop.example/cart")

    assert found == ("", "shop.example", "referral")


def test_a_location_with_a_host_keeps_it_whatever_the_origin() -> None:
    found = facts(
        "https://embedder.example",
        path="https://shop.example/products/shoes",
        referrer="https://embedder.example/",
    )

    assert found == ("shop.example", "embedder.example", "referral")


def test_an_event_without_a_location_takes_the_origins_host() -> None:
    found = facts("https://shop.example", path=None, referrer="")

    assert found == ("shop.example", "(direct)", "(none)")
