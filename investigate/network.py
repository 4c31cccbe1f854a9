"""IP addresses and ranges: sortable keys (so an IP or CIDR filter is a plain range in SQL on either
database) and membership in Conditional Access named locations."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from graphjson.values import lower, text
from posture.view import is_ip_location, location_ranges

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: Any) -> IPAddress | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_key(address: IPAddress) -> str:
    """Fixed-width lowercase hex with a version digit: string order is address order (and alphanumeric
    only, so every database collation sorts it the same way)."""
    return f"4{int(address):08x}" if address.version == 4 else f"6{int(address):032x}"


def ip_key(value: Any) -> str:
    """The key of an IP as Graph writes it; '' for anything that is not an IP address."""
    address = parse_ip(value)
    return address_key(address) if address is not None else ""


@dataclass(frozen=True)
class IpFilter:
    """An investigator's "IP or CIDR": the inclusive key range it covers."""

    text: str
    network: IPNetwork

    @property
    def low(self) -> str:
        return address_key(self.network.network_address)

    @property
    def high(self) -> str:
        return address_key(self.network.broadcast_address)

    @property
    def single(self) -> bool:
        return self.network.num_addresses == 1


class BadIpFilter(ValueError):
    """Not an IP address or CIDR range; the message is meant for a person."""


def parse_ip_filter(value: str) -> IpFilter:
    """'198.51.100.7', '198.51.100.0/24', '2001:db8::/32' (host bits are tolerated: /24 of any address)."""
    cleaned = value.strip()
    try:
        network = ipaddress.ip_network(cleaned, strict=False)
    except ValueError:
        raise BadIpFilter(f"'{value}' is not an IP address or CIDR range") from None
    if network.version == 6 and network.prefixlen == 128 and network.network_address.ipv4_mapped:
        network = ipaddress.ip_network(network.network_address.ipv4_mapped)
    return IpFilter(cleaned, network)


@dataclass(frozen=True)
class LocationMatch:
    id: str
    name: str
    trusted: bool
    range: str  # the range that contains the address, as written


def ip_locations(ip: Any, named_locations: list[dict[str, Any]]) -> list[LocationMatch]:
    """The IP named locations whose ranges contain ``ip`` (invalid ranges are skipped)."""
    address = parse_ip(ip)
    if address is None:
        return []
    out = []
    for location in named_locations:
        if not isinstance(location, dict) or not is_ip_location(location):
            continue
        for written in location_ranges(location):
            try:
                network = ipaddress.ip_network(written.strip(), strict=False)
            except ValueError:
                continue
            if network.version == address.version and address in network:
                out.append(
                    LocationMatch(
                        text(location.get("id")),
                        text(location.get("displayName"), text(location.get("id"))),
                        location.get("isTrusted") is True,
                        written,
                    )
                )
                break
    return out


def trusted_ip_locations(
    named_locations: list[dict[str, Any]], names: set[str] | None = None
) -> list[dict[str, Any]]:
    """Trusted IP named locations; with ``names`` (lower-case), only those count (as posture does)."""
    trusted = [
        n for n in named_locations if isinstance(n, dict) and is_ip_location(n) and n.get("isTrusted") is True
    ]
    if names:
        trusted = [n for n in trusted if lower(n.get("displayName")) in names]
    return trusted


def single_address_range(ip: Any) -> str | None:
    """The CIDR of exactly one address ('/32' or '/128'), as a trusted location range."""
    address = parse_ip(ip)
    if address is None:
        return None
    return f"{address}/{address.max_prefixlen}"
