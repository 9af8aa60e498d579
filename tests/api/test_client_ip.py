"""Which address counts as the client, with and without trusted proxies."""

from __future__ import annotations

import ipaddress

from ga4clone.api.client_ip import client_ip

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def test_peer_is_the_client_when_no_proxy_is_trusted() -> None:
    assert client_ip("10.1.2.3", "203.0.113.9", []) == "10.1.2.3"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("198.51.100.7", "203.0.113.9", PROXIES) == "198.51.100.7"


def test_rightmost_untrusted_hop_is_the_client() -> None:
    header = "1.1.1.1, 203.0.113.9, 10.0.0.2"

    assert client_ip("10.0.0.1", header, PROXIES) == "203.0.113.9"


def test_ipv6_hops_are_understood() -> None:
    assert client_ip("fd00::1", "2001:db8::7", PROXIES) == "2001:db8::7"


def test_malformed_hop_falls_back_to_the_peer() -> None:
    assert client_ip("10.0.0.1", "203.0.113.9, garbage", PROXIES) == "10.0.0.1"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert client_ip("10.0.0.1", "10.0.0.5, 10.0.0.3", PROXIES) == "10.0.0.5"
