"""Judging IP ranges: Entra's trusted-location ranges (LOC-2) and CIPP's API-client ranges (C-2)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from posture.findings import Status

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def judge_trusted_range(value: str) -> RangeVerdict:
    """LOC-2: a valid CIDR, not everything, not too broad, a public address."""
    network = parse_network(value)
    if network is None:
        return RangeVerdict("fail", [f"'{value}' is not a valid CIDR range"])
    evidence: dict[str, Any] = {"network": str(network), "version": network.version}
    if network.prefixlen == 0:
        return RangeVerdict("fail", [f"{value} is every address: the 'trusted' location trusts the whole "
                                     "internet"], evidence)
    problems = []
    breadth = _breadth(network)
    if breadth:
        problems.append(breadth)
    flags = [flag for flag in ADDRESS_FLAGS if getattr(network, flag)]
    if flags:
        evidence["flags"] = flags
        kinds = ", ".join(f.removeprefix("is_") for f in flags)
        problems.append(f"not a public address ({kinds}): Entra sees public egress IPs only, so it never "
                        "matches")
    return RangeVerdict("warn" if problems else "pass", problems, evidence)


def judge_cipp_range(value: str) -> RangeVerdict:
    """C-2: an IP or CIDR that CIPP's save validation accepts; not everything, not too broad, no host bits."""
    network = parse_network(value)
    accepted = bool(CIPP_RANGE_RE.match(value))
    if network is None or (not accepted and "::" not in value):
        return RangeVerdict("fail", [f"'{value}' is not a valid IP address or CIDR range (CIPP rejects it)"])
    suggested = eight_groups(network)
    evidence: dict[str, Any] = {"network": str(network), "version": network.version, "suggested": suggested}
    if network.prefixlen == 0:
        return RangeVerdict("fail", [f"{value} allows every address: the client is open to any IP"], evidence)
    if not accepted:
        return RangeVerdict("fail", [f"CIPP's save validation rejects the '::' shorthand in {value}: write "
                                     f"all eight groups, {suggested}"], evidence)
    problems = []
    if _has_host_bits(value):
        problems.append(f"host bits set: {value} means {network}; write that (or a /"
                        f"{network.max_prefixlen} for the single address)")
    breadth = _breadth(network)
    if breadth:
        problems.append(breadth)
    return RangeVerdict("warn" if problems else "pass", problems, evidence)
