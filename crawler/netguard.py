"""Which addresses a crawl may connect to: public unicast only, unless a site or a setting allows more.

An archive fetches whatever URLs pages, feeds, sitemaps and redirects name, so a hostile page can point it
at the machine it runs on, at the cloud metadata service (169.254.169.254) or at the network behind it
(server-side request forgery). Every connection's *resolved* address is checked here (crawler/guard.py
calls this from the DNS resolver, for IP literals in URLs, and for every request the browser makes), so a
name that resolves to a private address, or a redirect to one, is refused like the address itself.

Pure functions, no Scrapy: the address classification is tested on its own, without connecting anywhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from crawler.errors import PalimpsestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused by default, by the name logged with the refusal. The ipaddress module's is_private / is_global
# flags are close but not the same across Python versions (3.11 calls 100.64/10 neither private nor
# global, 3.12.4 changed several IPv6 ranges): the list is spelled out so the rule does not move.
_BLOCKED: list[tuple[str, list[str]]] = [
    ("unspecified", ["0.0.0.0/8", "::/128"]),
    ("loopback", ["127.0.0.0/8", "::1/128"]),
    ("private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
    ("link-local", ["169.254.0.0/16", "fe80::/10"]),  # 169.254.169.254: cloud instance metadata
    ("cgnat", ["100.64.0.0/10"]),
    ("multicast", ["224.0.0.0/4", "ff00::/8"]),
    ("reserved", ["192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
                  "240.0.0.0/4", "255.255.255.255/32", "100::/64", "2001:db8::/32", "fec0::/10"]),
]
_BLOCKED_NETWORKS: list[tuple[IPNetwork, str]] = [
    (ipaddress.ip_network(net), kind) for kind, nets in _BLOCKED for net in nets]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(PalimpsestError):
    """A connection the network policy refuses: the crawl log says `blocked-address`."""


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and an IPv6 zone allowed), or None when it is a host name."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and that a connection to it would reach: IPv4-mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), 6to4 (2002:AABB:CCDD::) and NAT64 (64:ff9b::a.b.c.d)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: IPAddress) -> str | None:
    """Why `address` is refused by default (`loopback`, `private`, `link-local`, ...), None if it is public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return classify(inner)
    for network, kind in _BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return kind
    return None


# What a site's `allow_private_networks` opens: the machine and the networks behind it. Link-local (the cloud
# metadata service at 169.254.169.254), multicast, unspecified and reserved addresses stay refused unless
# NETWORK_ALLOW lists them: a site on an intranet has no business with any of those.
PRIVATE_KINDS = frozenset({"loopback", "private", "cgnat"})


@dataclass(frozen=True)
class NetworkPolicy:
    """What one crawl may connect to. `allow_private`: a site's `allow_private_networks` (PRIVATE_KINDS);
    `allowed`: the networks of NETWORK_ALLOW; `proxies`: host names of configured proxies, which the
    resolver lets through (a connection to a proxy is the user's choice, and the proxy resolves the
    target, as with curl and browsers). Nothing else is exempt: a direct request to a proxy's host on
    another port is checked like any other (crawler/guard.py)."""

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()
    proxies: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, allow_private: bool, allowed: Iterable[str], proxies: Iterable[str] = ()) -> NetworkPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allowed),
                   frozenset(p.lower() for p in proxies))

    def refusal(self, address: IPAddress) -> str | None:
        """None when a connection to `address` is allowed, else why not (the address's kind)."""
        kind = classify(address)
        if kind is None or (self.allow_private and kind in PRIVATE_KINDS):
            return None
        candidates = [address] + ([inner] if (inner := embedded_ipv4(address)) is not None else [])
        if any(a.version == n.version and a in n for a in candidates for n in self.allowed):
            return None
        return kind

    def check(self, host: str, address: str) -> None:
        """Raise BlockedAddressError unless `host`, resolved to `address`, may be connected to."""
        parsed = parse_address(address)
        if parsed is None:
            raise BlockedAddressError(f"{host} resolved to {address!r}, which is not an IP address")
        kind = self.refusal(parsed)
        if kind is not None:
            shown = host if host == address else f"{host} ({address})"
            hint = "NETWORK_ALLOW" if kind not in PRIVATE_KINDS else \
                "allow_private_networks in the site config or NETWORK_ALLOW"
            raise BlockedAddressError(f"{shown} is a {kind} address; allow it with {hint}")

    def check_resolved(self, name: str, address: str) -> None:
        """`check` for the resolver, which cannot tell a connection to a proxy from one to its host: a
        configured proxy's name passes (direct requests to it are checked before, by the middleware)."""
        if name.lower().strip("[]") in self.proxies:
            return
        self.check(name, address)

    def with_proxy(self, host: str) -> NetworkPolicy:
        if host.lower() in self.proxies:
            return self
        return NetworkPolicy(self.allow_private, self.allowed, self.proxies | {host.lower()})


DEFAULT = NetworkPolicy()
