"""Judging IP ranges: Entra's trusted-location ranges (LOC-2) and CIPP's API-client ranges (C-2).

Two rules hold for every judgement here, and the fix engine's guards use the same functions:

- An IPv4-mapped IPv6 range (inside ``::ffff:0:0/96``) is the IPv4 range it maps to:
  ``::ffff:0:0/96`` is every IPv4 address, ``::ffff:10.0.0.0/104`` is ``10.0.0.0/8`` (private, and
  broader than /16). An IPv6 range that contains the whole mapped block covers every IPv4 address.
- Breadth is judged on the union of a location's (or client's) ranges, not range by range:
  ``0.0.0.0/1`` and ``128.0.0.0/1`` together are every IPv4 address, like ``0.0.0.0/0``
  (:func:`covers_every_address`, :func:`union_problems`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from posture.findings import Status

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # ::ffff:a.b.c.d is the IPv4 address a.b.c.d
EVERY = {4: ipaddress.IPv4Network("0.0.0.0/0"), 6: ipaddress.IPv6Network("::/0")}

# CIPP's save validation (Invoke-ExecApiClient): IPv4 with an optional prefix; IPv6 only as 2-8 full
# groups, so the '::' shorthand is rejected.
CIPP_RANGE_RE = re.compile(
    r"^(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:/\d{1,2})?"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}[0-9A-Fa-f]{1,4}(?:/\d{1,3})?)$"
)
BROADEST_PREFIX = {4: 16, 6: 48}  # broader than this warns
ADDRESS_FLAGS = ("is_private", "is_reserved", "is_loopback", "is_link_local", "is_multicast")


@dataclass
class RangeVerdict:
    status: Status
    problems: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def parse_network(value: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def unmapped(network: IPNetwork) -> IPNetwork:
    """An IPv4-mapped IPv6 range as the IPv4 range it maps to; any other range unchanged."""
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):
        address = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((address, network.prefixlen - 96))
    return network


def unmapped_address(address: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` as ``a.b.c.d``; any other address unchanged."""
    mapped = address.ipv4_mapped if address.version == 6 else None
    return mapped or address


def covers_every_address(networks: Iterable[IPNetwork | None]) -> list[int]:
    """The IP versions (4, 6) every address of which lies in the union of ``networks`` (None, for an
    unparsable range, is skipped). IPv4-mapped ranges count as IPv4, and an IPv6 range containing the
    whole mapped block covers every IPv4 address."""
    by_version: dict[int, list[Any]] = {4: [], 6: []}
    for network in networks:
        if network is None:
            continue
        if network.version == 6 and network.supernet_of(IPV4_MAPPED):
            by_version[4].append(EVERY[4])
        plain = unmapped(network)
        by_version[plain.version].append(plain)
    return [
        version
        for version, nets in by_version.items()
        if nets and EVERY[version] in ipaddress.collapse_addresses(nets)
    ]


def versions_of(network: IPNetwork) -> set[int]:
    """The IP versions whose addresses ``network`` holds (a range containing the mapped block: both)."""
    versions: set[int] = {unmapped(network).version}
    if network.version == 6 and network.supernet_of(IPV4_MAPPED):
        versions.add(4)
    return versions


def address_covered(address: IPAddress, networks: Iterable[IPNetwork | None]) -> bool:
    """Whether ``address`` lies in one of ``networks``, an IPv4 address and its IPv4-mapped IPv6 form
    being the same address."""
    plain = unmapped_address(address)
    for network in networks:
        if network is None:
            continue
        candidate = unmapped(network)
        if candidate.version == plain.version and plain in candidate:
            return True
    return False


def covered_by(network: IPNetwork, union: Iterable[IPNetwork | None]) -> bool:
    """Whether every address of ``network`` lies in the union of ``union`` (mapped ranges as IPv4)."""
    plain = unmapped(network)
    others = [unmapped(n) for n in union if n is not None]
    if isinstance(plain, ipaddress.IPv4Network):
        same4 = [n for n in others if isinstance(n, ipaddress.IPv4Network)]
        return any(plain.subnet_of(block) for block in ipaddress.collapse_addresses(same4))
    same6 = [n for n in others if isinstance(n, ipaddress.IPv6Network)]
    return any(plain.subnet_of(block) for block in ipaddress.collapse_addresses(same6))


def _every(version: int) -> str:
    return f"every IPv{version} address"


def union_problems(values: Iterable[str]) -> dict[int, str]:
    """For ranges judged together (one location's, one client's): the versions their union covers
    entirely, each with a sentence naming the union. Empty when nothing is covered entirely."""
    written = [v for v in values if isinstance(v, str)]
    networks = [parse_network(v) for v in written]
    problems = {}
    for version in covers_every_address(networks):
        members = [
            v for v, n in zip(written, networks, strict=True) if n is not None and version in versions_of(n)
        ]
        problems[version] = (
            f"together, {', '.join(members)} cover {_every(version)}: as open as {EVERY[version]}"
        )
    return problems


def judge_with_union(verdict: RangeVerdict, value: str, values: Iterable[str]) -> RangeVerdict:
    """``verdict`` of ``value`` alone, failed when the ranges it is judged with (``values``: its
    location's or client's, itself included) together cover every address of its version; the
    evidence's ``union`` names them."""
    network = parse_network(value)
    if network is None or verdict.status == "fail":
        return verdict
    problems = union_problems(values)
    hits = [problems[v] for v in sorted(versions_of(network)) if v in problems]
    if not hits:
        return verdict
    evidence = {**verdict.evidence, "union": [v for v in values if isinstance(v, str)]}
    return RangeVerdict("fail", [*hits, *verdict.problems], evidence)


def eight_groups(network: IPNetwork) -> str:
    """The form CIPP accepts: IPv4 as is, IPv6 with all eight groups written out (no '::')."""
    if network.version == 4:
        return str(network)
    groups = network.network_address.exploded.split(":")
    return ":".join(f"{int(g, 16):x}" for g in groups) + f"/{network.prefixlen}"


def _breadth(network: IPNetwork) -> str | None:
    limit = BROADEST_PREFIX[network.version]
    if network.prefixlen < limit:
        return f"broader than /{limit} ({network.num_addresses:,} addresses)"
    return None


def _has_host_bits(value: str) -> bool:
    try:
        ipaddress.ip_network(value.strip())  # strict: refuses a range with host bits set
    except ValueError:
        return True
    return False


def _mapped_evidence(written: IPNetwork, network: IPNetwork) -> dict[str, Any]:
    if written == network:
        return {}
    return {"ipv4Mapped": True, "mappedFrom": str(written)}


def _everything(value: str, network: IPNetwork, what: str) -> str | None:
    """Why one range alone covers every address of a version (None: it does not)."""
    covered = covers_every_address([network])
    if not covered:
        return None
    if network.prefixlen == 0:
        return f"{value} {what} every address"
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):  # an IPv4 one covering all is /0 (above)
        return f"{value} {what} {_every(4)}: it is the whole IPv4-mapped IPv6 block ({IPV4_MAPPED})"
    return f"{value} {what} {_every(4)}: it contains the whole IPv4-mapped IPv6 block ({IPV4_MAPPED})"


def judge_trusted_range(value: str) -> RangeVerdict:
    """LOC-2: a valid CIDR, not everything, not too broad, a public address (an IPv4-mapped IPv6 range
    is judged as the IPv4 range it maps to)."""
    written = parse_network(value)
    if written is None:
        return RangeVerdict("fail", [f"'{value}' is not a valid CIDR range"])
    network = unmapped(written)
    evidence: dict[str, Any] = {
        "network": str(network),
        "version": network.version,
        **_mapped_evidence(written, network),
    }
    everything = _everything(value, written, "is")
    if everything:
        return RangeVerdict(
            "fail", [f"{everything}: the 'trusted' location trusts the whole internet"], evidence
        )
    problems = []
    if network is not written:
        problems.append(f"an IPv4-mapped IPv6 range: it stands for {network}; write that")
    breadth = _breadth(network)
    if breadth:
        problems.append(breadth)
    flags = [flag for flag in ADDRESS_FLAGS if getattr(network, flag)]
    if flags:
        evidence["flags"] = flags
        kinds = ", ".join(f.removeprefix("is_") for f in flags)
        problems.append(
            f"not a public address ({kinds}): Entra sees public egress IPs only, so it never matches"
        )
    return RangeVerdict("warn" if problems else "pass", problems, evidence)


def judge_cipp_range(value: str) -> RangeVerdict:
    """C-2: an IP or CIDR that CIPP's save validation accepts; not everything, not too broad, no host bits
    (an IPv4-mapped IPv6 range is judged as the IPv4 range it maps to)."""
    written = parse_network(value)
    accepted = bool(CIPP_RANGE_RE.match(value))
    if written is None or (not accepted and "::" not in value):
        return RangeVerdict("fail", [f"'{value}' is not a valid IP address or CIDR range (CIPP rejects it)"])
    network = unmapped(written)
    suggested = eight_groups(network)
    evidence: dict[str, Any] = {
        "network": str(network),
        "version": network.version,
        "suggested": suggested,
        **_mapped_evidence(written, network),
    }
    everything = _everything(value, written, "allows")
    if everything:
        return RangeVerdict("fail", [f"{everything}: the client is open to any IP"], evidence)
    if not accepted:
        how = f"write it as {suggested}" if network is not written else f"write all eight groups, {suggested}"
        return RangeVerdict(
            "fail", [f"CIPP's save validation rejects the '::' shorthand in {value}: {how}"], evidence
        )
    problems = []
    if _has_host_bits(value):
        problems.append(
            f"host bits set: {value} means {written}; write that (or a /"
            f"{written.max_prefixlen} for the single address)"
        )
    if network is not written:
        problems.append(f"an IPv4-mapped IPv6 range: it means {network}; write {suggested}")
        flags = [flag for flag in ADDRESS_FLAGS if getattr(network, flag)]
        if flags:
            evidence["flags"] = flags
            problems.append(f"not a public address ({', '.join(f.removeprefix('is_') for f in flags)})")
    breadth = _breadth(network)
    if breadth:
        problems.append(breadth)
    return RangeVerdict("warn" if problems else "pass", problems, evidence)
