"""Graph handlers for a tenant's configuration, what fixes write: Conditional Access policies, named
locations and the security-defaults policy (each write is committed to the tenant's history)."""

from __future__ import annotations

import copy
import ipaddress
import json
import uuid

from simulator import audits, demo
from simulator.graph_api import (
    Collection,
    GraphError,
    Request,
    Result,
    entity,
    filtered,
    find_by_id,
    page,
    selected,
)
from simulator.state import SimState

# --- Conditional Access --------------------------------------------------------------------------

POLICIES_PATH = "identity/conditionalAccess/policies"
LOCATIONS_PATH = "identity/conditionalAccess/namedLocations"
POLICY_KEYS = {"displayName", "state", "conditions", "grantControls", "sessionControls", "templateId"}
READ_ONLY_KEYS = {"id", "createdDateTime", "modifiedDateTime"}
STATES = ("enabled", "disabled", "enabledForReportingButNotEnforced")
MERGED_KEYS = ("conditions", "grantControls", "sessionControls")


def deep_merge(target: dict, patch: dict) -> dict:
    """Dicts merge recursively; everything else (lists, scalars, null) replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _check_policy_body(body: dict, creating: bool) -> dict:
    clean = {k: v for k, v in body.items() if not k.startswith("@odata") and k not in READ_ONLY_KEYS}
    unknown = sorted(set(clean) - POLICY_KEYS)
    if unknown:
        raise GraphError(
            400,
            "BadRequest",
            f"Invalid property '{unknown[0]}' for type 'microsoft.graph.conditionalAccessPolicy'.",
        )
    if "state" in clean and clean["state"] not in STATES:
        raise GraphError(400, "BadRequest", f"Invalid value '{clean['state']}' for property 'state'.")
    for key in MERGED_KEYS:
        if key in clean and clean[key] is not None and not isinstance(clean[key], dict):
            raise GraphError(400, "BadRequest", f"Property '{key}' must be an object.")
    if creating:
        if not clean.get("displayName"):
            raise GraphError(400, "BadRequest", "1037: The policy name is required.")
        users = (clean.get("conditions") or {}).get("users") or {}
        apps = (clean.get("conditions") or {}).get("applications") or {}
        if not users or not apps:
            raise GraphError(
                400,
                "BadRequest",
                "1040: Invalid policy: conditions.users and conditions.applications are required.",
            )
        if not clean.get("grantControls") and not clean.get("sessionControls"):
            raise GraphError(
                400, "BadRequest", "1040: Invalid policy: grantControls or sessionControls is required."
            )
    return clean


def _list_config(
    state: SimState, req: Request, attr: str, path: str, filters: dict[str, type], page_size: int
) -> Collection:
    """A list of one kind of the tenant's configuration (`attr` of its TenantConfig), Graph's `path`."""
    with state.lock:
        items = copy.deepcopy(getattr(state.tenants[req.tenant_id].config, attr))
    items = filtered(req, items, filters)
    return page(req, f"{req.context_base}{path}", selected(req, items), page_size, page_size)


def _get_config(state: SimState, req: Request, attr: str, path: str) -> Result:
    """One object of that kind, by the id in the URL."""
    with state.lock:
        obj = copy.deepcopy(find_by_id(getattr(state.tenants[req.tenant_id].config, attr), req.match["id"]))
    return Result(body=entity(req, path, obj))


def list_policies(state: SimState, req: Request) -> Collection:
    filters = {"displayName": str, "state": str, "id": str}
    return _list_config(state, req, "policies", POLICIES_PATH, filters, 1000)


def get_policy(state: SimState, req: Request) -> Result:
    return _get_config(state, req, "policies", POLICIES_PATH)


def create_policy(state: SimState, req: Request) -> Result:
    body = _check_policy_body(req.json_body(), creating=True)
    with state.lock:
        now = demo.iso(state.clock.now())
        obj = deep_merge(demo.empty_policy(), body)
        obj.update(id=str(uuid.uuid4()), createdDateTime=now, modifiedDateTime=None)
        if obj.get("sessionControls") is not None:
            obj["sessionControls"] = deep_merge(demo.empty_session_controls(), obj["sessionControls"])
        state.tenants[req.tenant_id].config.policies.append(obj)
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Add", demo.POLICY_KIND, None, obj)
        out = copy.deepcopy(obj)
    return Result(201, entity(req, POLICIES_PATH, out))


def update_policy(state: SimState, req: Request) -> Result:
    body = _check_policy_body(req.json_body(), creating=False)
    with state.lock:
        obj = find_by_id(state.tenants[req.tenant_id].config.policies, req.match["id"])
        old = copy.deepcopy(obj)
        deep_merge(obj, body)
        obj["modifiedDateTime"] = demo.iso(state.clock.now())
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Update", demo.POLICY_KIND, old, obj)
    return Result(204)


def delete_policy(state: SimState, req: Request) -> Result:
    with state.lock:
        policies = state.tenants[req.tenant_id].config.policies
        obj = find_by_id(policies, req.match["id"])
        policies.remove(obj)
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Delete", demo.POLICY_KIND, obj, None)
    return Result(204)


NL_TYPES = ("#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation")
NL_KEYS = {
    "displayName",
    "isTrusted",
    "ipRanges",
    "countriesAndRegions",
    "includeUnknownCountriesAndRegions",
    "countryLookupMethod",
}


def _check_location_body(body: dict, existing_type: str | None) -> dict:
    odata_type = body.get("@odata.type")
    if not odata_type:
        raise GraphError(
            400,
            "BadRequest",
            "The '@odata.type' property is required to write an abstract type "
            "'microsoft.graph.namedLocation'.",
        )
    if odata_type not in NL_TYPES or (existing_type and odata_type != existing_type):
        raise GraphError(400, "BadRequest", f"Invalid '@odata.type' value '{odata_type}'.")
    clean = {k: v for k, v in body.items() if not k.startswith("@odata") and k not in READ_ONLY_KEYS}
    unknown = sorted(set(clean) - NL_KEYS)
    if unknown:
        raise GraphError(400, "BadRequest", f"Invalid property '{unknown[0]}' for type '{odata_type[1:]}'.")
    if "ipRanges" in clean:
        if not isinstance(clean["ipRanges"], list):
            raise GraphError(400, "BadRequest", "Property 'ipRanges' must be an array.")
        ranges = []
        for r in clean["ipRanges"]:
            cidr = r.get("cidrAddress") if isinstance(r, dict) else None
            try:
                if "/" not in str(cidr):
                    raise ValueError("no prefix length")
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError as exc:
                raise GraphError(
                    400, "BadRequest", f"1004: '{cidr}' is not a valid IP range in CIDR format."
                ) from exc
            ranges.append(demo.ip_range(str(cidr)))
        clean["ipRanges"] = ranges
    return {"@odata.type": odata_type, **clean}


def list_locations(state: SimState, req: Request) -> Collection:
    return _list_config(state, req, "named_locations", LOCATIONS_PATH, {"displayName": str, "id": str}, 100)


def get_location(state: SimState, req: Request) -> Result:
    return _get_config(state, req, "named_locations", LOCATIONS_PATH)


def create_location(state: SimState, req: Request) -> Result:
    body = _check_location_body(req.json_body(), None)
    if not body.get("displayName"):
        raise GraphError(400, "BadRequest", "The displayName property is required.")
    with state.lock:
        now = demo.iso(state.clock.now())
        if body["@odata.type"] == NL_TYPES[0]:
            obj = demo.ip_location(
                str(uuid.uuid4()), body["displayName"], bool(body.get("isTrusted")), [], now
            )
            obj["ipRanges"] = body.get("ipRanges", [])
        else:
            obj = demo.country_location(str(uuid.uuid4()), body["displayName"], [], now)
            obj.update({k: v for k, v in body.items() if k in NL_KEYS})
        state.tenants[req.tenant_id].config.named_locations.append(obj)
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Add", demo.LOCATION_KIND, None, obj)
        out = copy.deepcopy(obj)
    return Result(201, entity(req, LOCATIONS_PATH, out))


def update_location(state: SimState, req: Request) -> Result:
    with state.lock:
        obj = find_by_id(state.tenants[req.tenant_id].config.named_locations, req.match["id"])
        body = _check_location_body(req.json_body(), obj.get("@odata.type"))
        body.pop("@odata.type")
        old = copy.deepcopy(obj)
        obj.update(copy.deepcopy(body))
        obj["modifiedDateTime"] = demo.iso(state.clock.now())
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Update", demo.LOCATION_KIND, old, obj)
    return Result(204)


def delete_location(state: SimState, req: Request) -> Result:
    with state.lock:
        config = state.tenants[req.tenant_id].config
        obj = find_by_id(config.named_locations, req.match["id"])
        users = [p["displayName"] for p in config.policies if obj["id"] in json.dumps(p.get("conditions"))]
        if users:
            raise GraphError(
                400,
                "BadRequest",
                f"1010: The named location is referenced by policy '{users[0]}' and cannot be deleted.",
            )
        config.named_locations.remove(obj)
        state.commit(req.tenant_id)
        audits.record_write(state, req, "Delete", demo.LOCATION_KIND, obj, None)
    return Result(204)


# --- Security defaults ---------------------------------------------------------------------------


def get_security_defaults(state: SimState, req: Request) -> Result:
    with state.lock:
        enabled = state.tenants[req.tenant_id].config.security_defaults
    return Result(
        body={
            "@odata.context": f"{req.context_base}policies/identitySecurityDefaultsEnforcementPolicy/$entity",
            **demo.security_defaults_object(enabled),
        }
    )


def update_security_defaults(state: SimState, req: Request) -> Result:
    body = req.json_body()
    if not isinstance(body.get("isEnabled"), bool):
        raise GraphError(400, "BadRequest", "Property 'isEnabled' must be a boolean.")
    with state.lock:
        state.tenants[req.tenant_id].config.security_defaults = body["isEnabled"]
        state.commit(req.tenant_id)
    return Result(204)
