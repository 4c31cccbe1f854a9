"""IP ranges typed by a person: parsed strictly, normalised to a form CIPP-API and Graph both accept.

Decisions (SPEC "Fixes", input guard):

- A bare address is one host: /32 (IPv4) or /128 (IPv6).
- IPv6 is written as eight full groups with no ``::``: CIPP's save validation rejects the shorthand
  (REFERENCE.md), and Graph accepts the long form too.
- Host bits set (``203.0.113.5/24``) are **refused** for typed ranges: the person meant either the
  network (``203.0.113.0/24``) or the one host (``/32``), and only they know which. Ranges read back
  from CIPP are instead rewritten to their network, which is what CIPP already enforces, with a
  warning (``host_bits="network"``).
- ``0.0.0.0/0`` and ``::/0`` are refused: they allow every address. So are ``::ffff:0:0/96`` (every
  IPv4 address, written IPv4-mapped) and any IPv6 range containing it.
- An IPv4-mapped IPv6 range (inside ``::ffff:0:0/96``) is the IPv4 range it maps to, and is written in
  that IPv4 form, with a note (``::ffff:203.0.113.7`` is written ``203.0.113.7/32``): judged, merged and
  matched as IPv4 everywhere, as the posture checks judge it.
- Broader than /16 (IPv4) or /48 (IPv6) is a warning, which must be acknowledged; for a trusted
  location so is a non-public address (Entra only ever sees public egress IPs). The wording is the
  posture checks' own (LOC-2, C-2), so a fix never creates what a check would flag unannounced.
- The same network written twice is listed once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from fixes.model import BadInput, shown_text
from posture.ranges import (
    CIPP_RANGE_RE,
    IPV4_MAPPED,
    IPNetwork,
    covers_every_address,
    eight_groups,
    judge_cipp_range,
    judge_trusted_range,
    unmapped,
    unmapped_address,
)
from safetext.markdown import typed_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Purpose = Literal["cipp", "trusted"]
_PREFIX_RE = re.compile(r"\d{1,3}")


class RangeError(BadInput):
    """A range that cannot be used; the message names it and says what to write instead."""


@dataclass(frozen=True)
class Range:
    text: str  # normalised: what is sent
    network: IPNetwork
    written: str  # as given
    note: str = ""  # set when the written form was changed in a way worth telling (host bits)


def parse_address(value: str) -> IPAddress:
    """One IP address (the operator's egress IP), strictly."""
    text = typed_text(value) if isinstance(value, str) else ""  # as pasted from a page
    if "/" in text:
        raise RangeError(f"'{shown_text(text)}' is a range: give your single public egress IP address")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise RangeError(f"'{shown_text(text)}' is not a valid IP address") from None


def parse_range(value: str, host_bits: Literal["refuse", "network"] = "refuse") -> Range:
    """One IP address or CIDR range, normalised; raises :class:`RangeError` with the reason."""
    text = typed_text(value) if isinstance(value, str) else ""  # as pasted from a page
    shown = shown_text(text)
    if not text:
        raise RangeError("an empty range: give an IP address or a CIDR range such as 203.0.113.0/24")
    if text.lower() == "any":
        raise RangeError("'Any' is not a range: it allows every IP; give the addresses actually used")
    address_text, slash, prefix_text = text.partition("/")
    # Zone ids (fe80::1%eth0) and inner spaces pass some parsers but never CIPP's validation.
    if "%" in text or any(c.isspace() for c in text):
        raise RangeError(f"'{shown}' is not a valid IP address or CIDR range")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise RangeError(f"'{shown}' is not a valid IP address or CIDR range") from None
    longest = address.max_prefixlen
    if slash and not _PREFIX_RE.fullmatch(prefix_text):
        raise RangeError(f"'{shown}': the prefix length after '/' must be a number from 1 to {longest}")
    prefix = int(prefix_text) if slash else longest
    if prefix > longest:
        raise RangeError(f"'{shown}': an IPv{address.version} prefix length is at most /{longest}")
    network = ipaddress.ip_network((address, prefix), strict=False)
    if prefix == 0:
        raise RangeError(f"'{shown}' allows every address: give the addresses actually used")
    if covers_every_address([network]):
        whole = "is" if network == IPV4_MAPPED else "contains"
        raise RangeError(
            f"'{shown}' allows every IPv4 address (it {whole} the IPv4-mapped block "
            f"{IPV4_MAPPED}): give the addresses actually used"
        )
    note = ""
    if unmapped(network) is not network:  # IPv4-mapped: the IPv4 range it stands for
        address, network = unmapped_address(address), unmapped(network)
        note = f"{text} is an IPv4-mapped IPv6 range: it is written as {network}, the IPv4 range it means"
    normalised = eight_groups(network)
    if network.network_address != address:
        host = eight_groups(ipaddress.ip_network(address))
        if host_bits == "refuse":
            raise RangeError(
                f"'{shown}' has host bits set: write {normalised} for the whole network or "
                f"{host} for the single address"
            )
        note = (
            f"{text} has host bits set and is written as {normalised}, the network CIPP enforces "
            f"({host} would be the single address)" + (f"; {note}" if note else "")
        )
    if not CIPP_RANGE_RE.match(normalised):  # cannot happen (property-tested); never send what CIPP rejects
        raise RangeError(f"'{shown}' cannot be written in a form CIPP accepts")
    return Range(normalised, network, text, note)


def warnings_for(item: Range, purpose: Purpose) -> list[str]:
    """What the posture checks would warn about this range (LOC-2 for trusted, C-2 for CIPP)."""
    verdict = judge_trusted_range(item.text) if purpose == "trusted" else judge_cipp_range(item.text)
    return [f"{item.text}: {problem}" for problem in verdict.problems]


def merge_duplicates(items: Iterable[Range]) -> tuple[list[Range], list[str]]:
    """Each network once, in first-seen order; a note for every duplicate dropped."""
    unique: dict[IPNetwork, Range] = {}
    notes = []
    for item in items:
        first = unique.get(item.network)
        if first is None:
            unique[item.network] = item
        else:
            notes.append(f"{item.written} is the same range as {first.written}: listed once")
    return list(unique.values()), notes


def parse_ranges(values: Iterable[str], purpose: Purpose) -> tuple[list[Range], list[str], list[str]]:
    """Typed ranges, strictly: (ranges, warnings, notes). Raises on the first unusable one."""
    parsed = [parse_range(v) for v in values]
    ranges, notes = merge_duplicates(parsed)
    if not ranges:
        raise RangeError("no range given: give at least one IP address or CIDR range")
    warnings = [w for item in ranges for w in warnings_for(item, purpose)]
    return ranges, warnings, [item.note for item in parsed if item.note] + notes
