"""Microsoft Graph resources: routing table and handlers (reads and the writes fixes need).

The request/answer types and OData helpers are in graph_api, the configuration handlers (policies,
named locations, security defaults) in graph_config; the directory, report, sign-in and partner
handlers are here. Directory handlers read the people through `_directory` (tests replace it).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

from simulator import audits, demo, odata
from simulator.graph_api import (
    Collection,
    GraphError,
    Handler,
    Request,
    Result,
    entity,
    family_of,
    filtered,
    not_found,
    page,
    require_premium,
    selected,
)
from simulator.graph_config import (
    create_location,
    create_policy,
    delete_location,
    delete_policy,
    get_location,
    get_policy,
    get_security_defaults,
    list_locations,
    list_policies,
    update_location,
    update_policy,
    update_security_defaults,
)
from simulator.signins import RETENTION_SECONDS, Record
from simulator.state import SimState

__all__ = [
    "ROUTES",
    "Collection",
    "GraphError",
    "Handler",
    "Request",
    "Result",
    "family_of",
    "resolve",
]


# --- Directory -----------------------------------------------------------------------------------


def _directory(state: SimState, req: Request) -> demo.Directory:
    return demo.directory(state.seed, req.tenant_id)


def _city(tenant_id: str) -> str:
    spec = demo.client_by_id(tenant_id)
    return spec.city if spec else demo.MSP_CITY


USER_FILTERS = {
    "userType": str,
    "accountEnabled": bool,
    "userPrincipalName": str,
    "displayName": str,
    "id": str,
    "mail": str,
}


def _user_view(obj: dict, fields: list[str] | None) -> dict:
    if fields is None:
        return {k: obj[k] for k in demo.USER_DEFAULT_PROPERTIES}
    out = {}
    for f in fields:
        key = next((k for k in obj if k.lower() == f.lower()), None)
        if key is None:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{f}' on type 'microsoft.graph.user'.",
            )
        out[key] = obj[key]
    return out


def list_users(state: SimState, req: Request) -> Collection:
    d = _directory(state, req)
    fields = odata.parse_select(req.q("$select"))
    wanted = odata.parse_equality_filter(req.q("$filter"), USER_FILTERS)
    city = _city(req.tenant_id)
    items = [demo.user_object(p, city) for p in d.people]
    items = [_user_view(u, fields) for u in items if odata.matches_equality(u, wanted)]
    return page(
        req, f"{req.context_base}users" + (f"({','.join(fields)})" if fields else ""), items, 100, 999
    )


def get_user(state: SimState, req: Request) -> Result:
    d = _directory(state, req)
    key = req.match["id"].lower()
    person = d.by_id.get(req.match["id"]) or d.by_upn.get(key)
    if person is None:
        raise not_found(req.match["id"])
    obj = _user_view(demo.user_object(person, _city(req.tenant_id)), odata.parse_select(req.q("$select")))
    return Result(body=entity(req, "users", obj))


def _member_object(d: demo.Directory, member_id: str, city: str) -> dict | None:
    if member_id in d.by_id:
        user = {
            k: v
            for k, v in demo.user_object(d.by_id[member_id], city).items()
            if k in demo.USER_DEFAULT_PROPERTIES
        }
        return {"@odata.type": "#microsoft.graph.user", **user}
    group = d.group_by_id.get(member_id)
    if group is not None:
        return {"@odata.type": "#microsoft.graph.group", **demo.group_object(group)}
    return None


# Graph expands at most 20 objects of a relationship and gives no next link for the rest: a
# complete member list needs GET .../{id}/members, which pages.
EXPAND_LIMIT = 20


def _expanded_members(members: list[dict]) -> list[dict]:
    return members[:EXPAND_LIMIT]


def _expand_members(req: Request) -> bool:
    expand = (req.q("$expand") or "").lower()
    if expand and expand.split("(")[0].strip() != "members":
        raise GraphError(
            400,
            "BadRequest",
            f"Could not find a property named '{expand}' on type 'microsoft.graph.directoryObject'.",
        )
    return bool(expand)


def list_groups(state: SimState, req: Request) -> Collection:
    d = _directory(state, req)
    expand = _expand_members(req)
    city = _city(req.tenant_id)
    items = []
    for g in d.groups:
        obj = demo.group_object(g)
        if expand:
            obj["members"] = _expanded_members(
                [m for m in (_member_object(d, mid, city) for mid in g.member_ids) if m]
            )
        items.append(obj)
    items = filtered(
        req, items, {"displayName": str, "id": str, "mailNickname": str, "securityEnabled": bool}
    )
    return page(req, f"{req.context_base}groups", selected(req, items), 100, 999)


def _group(d: demo.Directory, group_id: str) -> demo.Group:
    group = d.group_by_id.get(group_id)
    if group is None:
        raise not_found(group_id)
    return group


def get_group(state: SimState, req: Request) -> Result:
    d = _directory(state, req)
    g = _group(d, req.match["id"])
    obj = demo.group_object(g)
    if _expand_members(req):
        obj["members"] = _expanded_members(
            [m for m in (_member_object(d, mid, _city(req.tenant_id)) for mid in g.member_ids) if m]
        )
    return Result(body=entity(req, "groups", selected(req, [obj])[0]))


def list_group_members(state: SimState, req: Request) -> Collection:
    d = _directory(state, req)
    g = _group(d, req.match["id"])
    items = [m for m in (_member_object(d, mid, _city(req.tenant_id)) for mid in g.member_ids) if m]
    return page(req, f"{req.context_base}directoryObjects", selected(req, items), 100, 999)


def _role_members(d: demo.Directory, template_id: str, city: str) -> list[dict]:
    return [m for m in (_member_object(d, p.id, city) for p in d.people if template_id in p.roles) if m]


def list_directory_roles(state: SimState, req: Request) -> Collection:
    d = _directory(state, req)
    expand = _expand_members(req)
    city = _city(req.tenant_id)
    items = []
    for template_id, object_id in d.role_ids.items():
        members = _role_members(d, template_id, city)
        if not members:
            continue  # Graph lists only activated roles
        obj = demo.directory_role_object(template_id, object_id)
        if expand:
            obj["members"] = _expanded_members(members)
        items.append(obj)
    return page(req, f"{req.context_base}directoryRoles", selected(req, items), 1000, 1000)


def list_role_members(state: SimState, req: Request) -> Collection:
    d = _directory(state, req)
    template = next((t for t, oid in d.role_ids.items() if req.match["id"].lower() in (oid, t)), None)
    if template is None:
        raise not_found(req.match["id"])
    members = _role_members(d, template, _city(req.tenant_id))
    return page(req, f"{req.context_base}directoryObjects", selected(req, members), 100, 999)


def list_registration_details(state: SimState, req: Request) -> Collection:
    require_premium(req)
    d = _directory(state, req)
    items = [demo.registration_object(p) for p in d.people]
    items = filtered(
        req,
        items,
        {
            "isAdmin": bool,
            "isMfaCapable": bool,
            "isMfaRegistered": bool,
            "userType": str,
            "userPrincipalName": str,
        },
    )
    return page(
        req,
        f"{req.context_base}reports/authenticationMethods/userRegistrationDetails",
        selected(req, items),
        1000,
        1000,
    )


def list_skus(state: SimState, req: Request) -> Collection:
    if req.tenant_id == demo.MSP_TENANT_ID:
        items = demo.subscribed_skus(req.tenant_id, "SPB", len(_directory(state, req).people))
    else:
        spec = demo.client_by_id(req.tenant_id)
        assert spec is not None
        items = demo.subscribed_skus(req.tenant_id, spec.sku, spec.user_count)
    return page(req, f"{req.context_base}subscribedSkus", selected(req, items), 1000, 1000)


def list_gdap(state: SimState, req: Request) -> Collection:
    items = copy.deepcopy(state.gdap_relationships) if req.tenant_id == demo.MSP_TENANT_ID else []
    items = filtered(req, items, {"status": str, "displayName": str})
    return page(
        req,
        f"{req.base_url}/{req.version}/tenantRelationships/$metadata#delegatedAdminRelationships",
        selected(req, items),
        300,
        300,
    )


def list_contracts(state: SimState, req: Request) -> Collection:
    items = []
    if req.tenant_id == demo.MSP_TENANT_ID:
        items = [
            {
                "id": str(uuid.uuid5(uuid.UUID(c.tenant_id), "contract")),
                "deletedDateTime": None,
                "contractType": "ResellerPartner",
                "customerId": c.tenant_id,
                "defaultDomainName": c.default_domain,
                "displayName": c.display_name,
            }
            for c in state.clients
            if c.access_mode == "gdap"
        ]
    return page(req, f"{req.context_base}contracts", selected(req, items), 100, 999)


# --- Sign-ins ------------------------------------------------------------------------------------


def list_sign_ins(state: SimState, req: Request) -> Collection:
    require_premium(req)
    flt = odata.parse_sign_in_filter(req.q("$filter"))
    top = odata.parse_top(req.q("$top"), 1000, 1000)
    now = state.clock.now_ts()
    token = req.q("$skiptoken")
    if token:
        cursor = odata.decode_token(token, "s", {"t": int, "i": str})
        cursor_key = (int(cursor["t"]), str(cursor["i"]))
    else:
        cursor_key = (int(now) + 1, "")  # everything up to now (sign-ins carry whole seconds)
    here = odata.encode_token({"k": "s", "t": cursor_key[0], "i": cursor_key[1]})

    upper = min(now, flt.upper if flt.upper is not None else now, cursor_key[0])
    lower = max(now - RETENTION_SECONDS, flt.lower if flt.lower is not None else 0)
    found: list[Record] = []
    minute = int(upper // 60)
    while minute >= int(lower // 60) and len(found) <= top:
        for record in state.signins.bucket(req.tenant_id, minute):
            if (record.ts, record.id) >= cursor_key or record.ts > now:
                continue
            if record.ts < now - RETENTION_SECONDS or not flt.accepts_ts(record.ts):
                continue
            if ("interactiveUser" if record.interactive else "nonInteractiveUser") not in flt.event_types:
                continue
            found.append(record)
        minute -= 1
    next_token = None
    if len(found) > top:
        last = found[top - 1]
        found = found[:top]
        next_token = odata.encode_token({"k": "s", "t": last.ts, "i": last.id})
    fields = odata.parse_select(req.q("$select"))
    items: list[Any] = (
        found if not fields else [odata.select_properties(json.loads(r.body), fields) for r in found]
    )
    return Collection(f"{req.context_base}auditLogs/signIns", items, next_token, here)


# --- routing -------------------------------------------------------------------------------------

ID = r"(?P<id>[^/]+)"
ROUTES: list[tuple[str, re.Pattern, Handler]] = [
    (method, re.compile(pattern, re.IGNORECASE), handler)
    for method, pattern, handler in (
        ("GET", r"identity/conditionalAccess/policies", list_policies),
        ("POST", r"identity/conditionalAccess/policies", create_policy),
        ("GET", rf"identity/conditionalAccess/policies/{ID}", get_policy),
        ("PATCH", rf"identity/conditionalAccess/policies/{ID}", update_policy),
        ("DELETE", rf"identity/conditionalAccess/policies/{ID}", delete_policy),
        ("GET", r"identity/conditionalAccess/namedLocations", list_locations),
        ("POST", r"identity/conditionalAccess/namedLocations", create_location),
        ("GET", rf"identity/conditionalAccess/namedLocations/{ID}", get_location),
        ("PATCH", rf"identity/conditionalAccess/namedLocations/{ID}", update_location),
        ("DELETE", rf"identity/conditionalAccess/namedLocations/{ID}", delete_location),
        ("GET", r"policies/identitySecurityDefaultsEnforcementPolicy", get_security_defaults),
        ("PATCH", r"policies/identitySecurityDefaultsEnforcementPolicy", update_security_defaults),
        ("GET", r"subscribedSkus", list_skus),
        ("GET", r"users", list_users),
        ("GET", rf"users/{ID}", get_user),
        ("GET", r"groups", list_groups),
        ("GET", rf"groups/{ID}", get_group),
        ("GET", rf"groups/{ID}/members", list_group_members),
        ("GET", r"directoryRoles", list_directory_roles),
        ("GET", rf"directoryRoles/{ID}/members", list_role_members),
        ("GET", r"reports/authenticationMethods/userRegistrationDetails", list_registration_details),
        ("GET", r"auditLogs/signIns", list_sign_ins),
        ("GET", r"auditLogs/directoryAudits", audits.list_directory_audits),
        ("GET", r"tenantRelationships/delegatedAdminRelationships", list_gdap),
        ("GET", r"contracts", list_contracts),
    )
]


def resolve(method: str, path: str) -> tuple[Handler, re.Match] | None:
    """The handler for a method and path; raises 405 when only the method is wrong."""
    path = path.strip("/")
    path_known = False
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            path_known = True
            if route_method == method:
                return handler, match
    if path_known:
        raise GraphError(
            405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource."
        )
    return None
