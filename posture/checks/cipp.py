"""C-1..3 (Part C): CIPP-API clients and their Allowed IP Ranges. Findings carry the MSP tenant id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from graphjson.values import as_dict, as_list, lower, text
from posture.check import Check, NotApplicable, define_check
from posture.findings import Finding, Subject
from posture.ranges import covers_every_address, judge_cipp_range, judge_with_union, parse_network
from posture.view import SnapshotView

ANY = "any"


def client_id(client: dict[str, Any]) -> str:
    return text(client.get("ClientId"))


def client_name(client: dict[str, Any]) -> str:
    return text(client.get("AppName"), client_id(client) or "(unnamed client)")


def client_subject(client: dict[str, Any]) -> Subject:
    return Subject("apiClient", client_id(client), client_name(client))


def client_ranges(client: dict[str, Any]) -> list[str] | None:
    """`IPRange` as a list of strings; None when the client reports none at all.

    CIPP returns a list (["Any"] when nothing usable is stored), but stored forms leak through: a
    single string, an empty string (nothing stored, i.e. Any), or a JSON array written as a string.
    """
    value = client.get("IPRange")
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return ["Any"]
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return [value]
            return client_ranges({"IPRange": parsed}) if isinstance(parsed, list) else [value]
        return [value]
    if isinstance(value, list):
        # Form fields may arrive as {"value": "..."}.
        return [text(as_dict(v).get("value")) if isinstance(v, dict) else str(v) for v in value]
    return [str(value)]


def is_any(ranges: list[str]) -> bool:
    return any(lower(r) == ANY for r in ranges)


def open_to_any_ip(ranges: list[str]) -> bool:
    """Reachable from any address: 'Any' (C-1), or ranges whose union covers every IPv4 or every IPv6
    address, such as 0.0.0.0/0 or ::/0 (C-2): one answer for the wall, the API clients page and the
    checks."""
    return is_any(ranges) or bool(covers_every_address(parse_network(r) for r in ranges))


def _cipp_missing(check: Check, snapshot: SnapshotView, what: str) -> NotApplicable:
    """The n/a ending a check (on the MSP tenant) when ``what`` of CIPP's was not collected."""
    return NotApplicable(
        check.finding(snapshot.msp_tenant_id, "n/a", snapshot.msp_subject, f"{what} was not collected")
    )


def _api_clients(check: Check, snapshot: SnapshotView) -> list[dict[str, Any]]:
    """CIPP's API clients, which C-1..C-3 judge (not collected: the check ends with an n/a)."""
    clients = snapshot.cipp_objects("apiClients")
    if clients is None:
        raise _cipp_missing(check, snapshot, "CIPP's API client list (cipp.apiClients)")
    return clients


@define_check(
    "C-1",
    severity="critical",
    scope="per API client",
    title="Every enabled API client has its own IP ranges",
    rationale="An API client without Allowed IP Ranges can call CIPP, and through it every client tenant, "
    "from any IP.",
    fix="api-client.set-ranges",
)
def api_client_has_ranges(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    clients = _api_clients(check, snapshot)
    msp_id = snapshot.msp_tenant_id
    if not clients:
        yield check.finding(msp_id, "n/a", snapshot.msp_subject, "CIPP has no API clients")
        return
    for client in clients:
        name, ranges, subject = client_name(client), client_ranges(client), client_subject(client)
        evidence = {
            "clientId": client_id(client),
            "appName": client.get("AppName"),
            "enabled": client.get("Enabled"),
            "IPRange": client.get("IPRange"),
        }
        if client.get("Enabled") is not True:
            state = "disabled" if client.get("Enabled") is False else "not reported as enabled"
            yield check.finding(
                msp_id,
                "n/a",
                subject,
                f"'{name}' is {state}: CIPP refuses its calls whatever its ranges",
                evidence,
            )
        elif ranges is None:
            yield check.finding(msp_id, "n/a", subject, f"'{name}' was listed without IPRange", evidence)
        elif is_any(ranges):
            yield check.finding(
                msp_id,
                "fail",
                subject,
                f"'{name}' has no Allowed IP Ranges (IPRange "
                f"{json.dumps(ranges)}): it can call CIPP from any IP",
                evidence,
            )
        elif not ranges:
            yield check.finding(
                msp_id,
                "fail",
                subject,
                f"'{name}' has an empty IPRange ([]): CIPP denies "
                "its every call, a broken client; set its ranges",
                evidence,
            )
        else:
            yield check.finding(
                msp_id, "pass", subject, f"'{name}' is limited to {', '.join(ranges)}", evidence
            )


@define_check(
    "C-2",
    severity="high",
    scope="per range",
    title="API client ranges are narrow and accepted by CIPP",
    rationale="A range CIPP cannot save, or one far wider than the caller's egress, opens the API to "
    "strangers.",
    fix="api-client.set-ranges",
)
def api_client_ranges_valid(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    clients = _api_clients(check, snapshot)
    msp_id = snapshot.msp_tenant_id
    judged = 0
    for client in clients:
        ranges = client_ranges(client)
        if client.get("Enabled") is not True or not ranges or is_any(ranges):
            continue  # C-1 speaks for disabled clients and for clients without ranges
        name = client_name(client)
        for value in ranges:
            judged += 1
            # Each range alone, and the client's ranges together (their union must not be everything).
            verdict = judge_with_union(judge_cipp_range(value), value, ranges)
            evidence = {
                "clientId": client_id(client),
                "appName": client.get("AppName"),
                "range": value,
                **verdict.evidence,
            }
            if verdict.status == "pass":
                message = f"{value} of '{name}' is a narrow range CIPP accepts"
            else:
                message = f"{value} of '{name}': {'; '.join(verdict.problems)}"
            subject = Subject("range", value, f"{value} of '{name}'")
            yield check.finding(msp_id, verdict.status, subject, message, evidence)
    if not judged:
        yield check.finding(
            msp_id, "n/a", snapshot.msp_subject, "no enabled API client has IP ranges to judge (see C-1)"
        )


def azure_client_ids(configuration: dict[str, Any]) -> list[str]:
    raw = configuration.get("ClientIDs")  # null in some 2025 versions: none
    return [raw] if isinstance(raw, str) else [i for i in as_list(raw) if isinstance(i, str) and i]


@define_check(
    "C-3",
    severity="high",
    scope="per client id",
    title="Azure accepts exactly the enabled API clients",
    rationale="An id Azure accepts but CIPP does not know skips CIPP's IP check; an unsaved one cannot call "
    "at all.",
    fix="api-config.save-to-azure",
)
def azure_configuration_matches(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    clients = _api_clients(check, snapshot)
    configuration = as_dict(snapshot.raw.get("cipp")).get("azureConfiguration")
    if not isinstance(configuration, dict):
        raise _cipp_missing(check, snapshot, "CIPP's Azure configuration (cipp.azureConfiguration)")
    msp_id = snapshot.msp_tenant_id
    if configuration.get("Error") is not None or isinstance(configuration.get("Enabled"), str):
        # On error CIPP still answers 200, with the error sentence in `Enabled`.
        reason = text(configuration.get("Enabled")) or json.dumps(configuration.get("Error"))[:200]
        yield check.finding(
            msp_id,
            "n/a",
            snapshot.msp_subject,
            f"CIPP could not read its Azure configuration: {reason}",
            {"azureConfiguration": configuration},
        )
        return
    azure_ids = azure_client_ids(configuration)
    table = {lower(client_id(c)): c for c in clients if client_id(c)}
    azure = {lower(i): i for i in azure_ids}
    save = "save the API configuration to Azure"
    findings = []
    for key, written in azure.items():
        client = table.get(key)
        evidence = {
            "clientId": written,
            "inAzure": True,
            "inTable": client is not None,
            "enabled": client.get("Enabled") if client else None,
        }
        if client is None:
            findings.append(
                check.finding(
                    msp_id,
                    "fail",
                    Subject("apiClient", written, written),
                    f"Azure accepts client id {written}, which CIPP's API client table does not hold: its "
                    f"calls get no IP check; {save}",
                    evidence,
                )
            )
        elif client.get("Enabled") is not True:
            findings.append(
                check.finding(
                    msp_id,
                    "fail",
                    client_subject(client),
                    f"'{client_name(client)}' is disabled in CIPP but Azure still accepts it: the disable "
                    f"never took effect; {save}",
                    evidence,
                )
            )
    for key, client in table.items():
        if client.get("Enabled") is True and key not in azure:
            findings.append(
                check.finding(
                    msp_id,
                    "warn",
                    client_subject(client),
                    f"'{client_name(client)}' is enabled but not yet saved to Azure: it cannot call CIPP "
                    f"until you {save}",
                    {"clientId": client_id(client), "inAzure": False, "inTable": True, "enabled": True},
                )
            )
    yield from findings or [
        check.finding(
            msp_id,
            "pass",
            snapshot.msp_subject,
            f"Azure accepts exactly the {len(azure)} enabled API client id(s)",
            {"clientIds": azure_ids},
        )
    ]
