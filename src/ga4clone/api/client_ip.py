"""Which address a request came from, believing X-Forwarded-For only from proxies.

X-Forwarded-For is appended to by every proxy on the way, so only the hops
added by proxies we trust are believed: walking from the right, the first
address that is not a trusted proxy is the client (RFC 7239, section 5.2,
reasons the same way about the Forwarded header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ga4clone.settings import Network


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
