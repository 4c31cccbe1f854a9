"""LOC-1..2: the trusted IP named location (Step 1) that every other layer refers to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphjson.values import lower, text
from posture.check import Check, define_check
from posture.findings import Finding, Subject
from posture.ranges import judge_trusted_range, judge_with_union
from posture.view import SnapshotView, is_ip_location, location_ranges


def _location_evidence(location: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(location.get("id")),
        "name": text(location.get("displayName")),
        "isTrusted": location.get("isTrusted"),
        "ranges": location_ranges(location),
    }


@define_check(
    "LOC-1",
    severity="high",
    scope="MSP",
    title="A trusted IP location lists the MSP's egress IPs",
    rationale="The technician block policy exempts only this location: without it nobody can reach CIPP.",
    fix="trusted-location.add-range",
)
def trusted_location(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    trusted = check.require(msp.trusted_locations(), msp, "named locations were not collected")
    usable = [n for n in trusted if any(location_ranges(n))]
    evidence = {
        "trustedLocations": [_location_evidence(n) for n in trusted],
        "trustedLocationNames": sorted(snapshot.trusted_location_names),
    }
    if usable:
        names = ", ".join(
            f"'{text(n.get('displayName'))}' ({len(location_ranges(n))} range(s))" for n in usable
        )
        yield check.about_tenant(msp, "pass", f"trusted IP location(s): {names}", evidence)
        return
    ip_locations = [n for n in msp.objects("namedLocations") or [] if is_ip_location(n)]
    reasons = [f"'{text(n.get('displayName'))}' is trusted but has no IP range" for n in trusted]
    if snapshot.trusted_location_names:
        known = {lower(n.get("displayName")): n for n in ip_locations}
        for name in sorted(snapshot.trusted_location_names):
            if name not in known:
                reasons.append(
                    f"msp.trustedLocationNames names '{name}' but no IP named location has that name"
                )
            elif known[name].get("isTrusted") is not True:
                reasons.append(f"'{text(known[name].get('displayName'))}' is not marked trusted")
    else:
        reasons += [
            f"'{text(n.get('displayName'))}' has ranges but is not marked trusted"
            for n in ip_locations
            if n.get("isTrusted") is not True and any(location_ranges(n))
        ]
    evidence["untrustedIpLocations"] = [
        _location_evidence(n) for n in ip_locations if n.get("isTrusted") is not True
    ]
    detail = f": {'; '.join(reasons)}" if reasons else ""
    yield check.about_tenant(msp, "fail", f"no trusted IP named location with a range{detail}", evidence)


@define_check(
    "LOC-2",
    severity="medium",
    scope="MSP, per range",
    title="Trusted ranges are narrow public CIDRs",
    rationale="Every address in a trusted range can reach CIPP: a range too broad or never seen by Entra "
    "either opens the perimeter or protects nothing.",
)
def trusted_ranges(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    trusted = check.require(msp.trusted_locations(), msp, "named locations were not collected")
    ranges = [(n, r) for n in trusted for r in location_ranges(n)]
    if not ranges:
        yield check.about_tenant(msp, "n/a", "no trusted IP location has a range (see LOC-1)")
        return
    unions = {id(n): location_ranges(n) for n in trusted}
    for location, value in ranges:
        name = text(location.get("displayName"), text(location.get("id")))
        # Each range alone, and the location's ranges together: 0.0.0.0/1 + 128.0.0.0/1 trust everything.
        verdict = judge_with_union(judge_trusted_range(value), value, unions[id(location)])
        subject = Subject("range", value, f"{value} in '{name}'")
        evidence = {
            "locationId": text(location.get("id")),
            "locationName": name,
            "range": value,
            **verdict.evidence,
        }
        if verdict.status == "pass":
            message = f"{value} in '{name}' is a public range of reasonable size"
        else:
            message = f"{value} in '{name}': {'; '.join(verdict.problems)}"
        yield check.finding(msp, verdict.status, subject, message, evidence)
