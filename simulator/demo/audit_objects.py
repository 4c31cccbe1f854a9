"""Directory audit entries (Graph's directoryAudit) for Conditional Access changes, and the demo's
history of them.

The shape follows Microsoft's directoryAudit / List directoryAudits reference and a real
"Update conditional access policy" record: category `Policy`, loggedByService `Conditional Access`,
one target of type `Policy` whose single modified property (`ConditionalAccessPolicy` for a policy)
carries the whole object before and after as JSON strings, and additionalDetails
`[{"key": "Category", "value": "Conditional Access"}]`.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simulator.demo.ca_objects import TenantConfig
from simulator.demo.ids import GLOBAL_ADMIN_TEMPLATE_ID, PERIMETER_APP_ID
from simulator.demo.people import Person, directory
from simulator.demo.tenants import client_by_id, licensed_for_reports, office_range

AUDIT_CATEGORY = "Policy"
AUDIT_SERVICE = "Conditional Access"
PERIMETER_APP_NAME = "Perimeter"
POLICY_KIND = "policy"
LOCATION_KIND = "namedLocation"
# Activity names as Entra writes them for Conditional Access (audit-log activity reference and
# published detections on real logs): "<Add|Update|Delete> conditional access policy|named location".
_ACTIVITY_OBJECT = {POLICY_KIND: "conditional access policy", LOCATION_KIND: "named location"}
_MODIFIED_PROPERTY = {POLICY_KIND: "ConditionalAccessPolicy", LOCATION_KIND: "NamedLocation"}
OPERATIONS = ("Add", "Update", "Delete")


@dataclass(frozen=True)
class AuditEntry:
    """One entry of a tenant's directory audit log: whole-second time, a per-tenant sequence number
    (order within the same second), and the directoryAudit object Graph returns."""

    ts: int
    seq: int
    body: dict

    @property
    def key(self) -> tuple[int, int]:
        return (self.ts, self.seq)


def activity_name(operation: str, kind: str) -> str:
    """ "Update conditional access policy", "Add named location", ..."""
    return f"{operation} {_ACTIVITY_OBJECT[kind]}"


def audit_time(ts: int) -> str:
    """activityDateTime as the simulator's sign-ins carry times: whole seconds, UTC, `Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def app_initiator(app_id: str) -> dict:
    """initiatedBy for an application (client credentials): Perimeter's own app by its app id."""
    name = PERIMETER_APP_NAME if app_id == PERIMETER_APP_ID else app_id
    return {
        "user": None,
        "app": {
            "appId": app_id,
            "displayName": name,
            "servicePrincipalId": str(uuid.uuid5(uuid.UUID(app_id), "servicePrincipal")),
            "servicePrincipalName": name,
        },
    }


def user_initiator(person: Person, ip_address: str) -> dict:
    """initiatedBy for a signed-in administrator."""
    return {
        "user": {
            "id": person.id,
            "displayName": person.display_name,
            "userPrincipalName": person.upn,
            "ipAddress": ip_address,
        },
        "app": None,
    }


def _json_value(obj: dict | None) -> str | None:
    if obj is None:
        return None
    return json.dumps({k: v for k, v in obj.items() if k != "@odata.context"}, separators=(",", ":"))


def directory_audit(
    correlation_id: str,
    ts: int,
    operation: str,
    kind: str,
    old: dict | None,
    new: dict | None,
    initiator: dict,
) -> dict:
    """A directoryAudit for one write to a policy or named location: `old` is None for Add, `new`
    None for Delete."""
    target = new if new is not None else old
    assert target is not None and operation in OPERATIONS
    return {
        "id": f"IPCGraph_{correlation_id}_{correlation_id[:5].upper()}_{ts % 100000000}",
        "category": AUDIT_CATEGORY,
        "correlationId": correlation_id,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity_name(operation, kind),
        "activityDateTime": audit_time(ts),
        "loggedByService": AUDIT_SERVICE,
        "operationType": operation,
        "initiatedBy": initiator,
        "targetResources": [
            {
                "id": target["id"],
                "displayName": target.get("displayName"),
                "type": "Policy",
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": [
                    {
                        "displayName": _MODIFIED_PROPERTY[kind],
                        "oldValue": _json_value(old),
                        "newValue": _json_value(new),
                    }
                ],
            }
        ],
        "additionalDetails": [{"key": "Category", "value": AUDIT_SERVICE}],
    }


def client_admin(seed: int, tenant_id: str) -> tuple[Person, str] | None:
    """A client tenant's own administrator (admin@<domain>) and the office address they work from;
    None for the MSP and partner tenants."""
    spec = client_by_id(tenant_id)
    if spec is None:
        return None
    person = directory(seed, tenant_id).by_upn.get(f"admin@{spec.default_domain}")
    if person is None or GLOBAL_ADMIN_TEMPLATE_ID not in person.roles:
        return None
    _, hosts = office_range(seed, spec)
    return person, hosts[0]


def audit_history(seed: int, tenant_id: str, config: TenantConfig, now: datetime) -> list[tuple[int, dict]]:
    """The demo's past entries for one tenant, oldest first: in each licensed client tenant the
    client's admin switched one or two enabled policies on from report-only, days ago (within the
    30 days the log keeps). The policy as it is now is the new value."""
    admin = client_admin(seed, tenant_id)
    if admin is None or not licensed_for_reports(tenant_id):
        return []
    person, ip = admin
    rng = random.Random(f"{seed}:{tenant_id}:audit-history")
    enabled = sorted((p for p in config.policies if p.get("state") == "enabled"), key=lambda p: p["id"])
    chosen = rng.sample(enabled, min(len(enabled), rng.choice((1, 2))))
    out = []
    for policy in chosen:
        ts = int((now - timedelta(days=rng.randint(2, 20), seconds=rng.randint(0, 86000))).timestamp())
        old = {**policy, "state": "enabledForReportingButNotEnforced"}
        correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        initiator = user_initiator(person, ip)
        out.append((ts, directory_audit(correlation, ts, "Update", POLICY_KIND, old, policy, initiator)))
    return sorted(out, key=lambda e: e[0])
