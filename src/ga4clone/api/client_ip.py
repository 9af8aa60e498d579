"""Which address a request came from, believing X-Forwarded-For only from proxies.

X-Forwarded-For is appended to by every proxy on the way, so only the hops
added by proxies we trust are believed: walking from the right, the first
address that is not a trusted proxy is the client (RFC 7239, section 5.2,
reasons the same way about the Forwarded header).

Before an address is queued it is reduced by ``CLIENT_IP_MODE``: by default
the host part is zeroed (IPv4 to its /24, IPv6 to its /48), which keeps
coarse geography and drops the person.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ga4clone.settings import Network

_IPV4_PREFIX = 24
_IPV6_PREFIX = 48


def client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client address of a request whose socket peer is ``peer``."""
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _parse(hop) is None:
            # A malformed hop means everything left of it is unreliable.
            return peer
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in trusted)


def anonymize(address: str, mode: str) -> str:
    """``address`` as ``CLIENT_IP_MODE`` wants it queued: anonymized, kept or ""."""
    if mode == "keep":
        return address
    parsed = _parse(address)
    if mode == "drop" or parsed is None:
        return ""
    prefix = _IPV4_PREFIX if parsed.version == 4 else _IPV6_PREFIX
    network = ipaddress.ip_network(f"{parsed}/{prefix}", strict=False)
    return str(network.network_address)
