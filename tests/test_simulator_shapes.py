"""Proof that the simulator's JSON has Microsoft's shapes: every object type it serves is parsed with
msgraph-sdk's own models, and nothing may land in a model's ``additional_data`` (the place kiota puts
properties the model does not know) - except, for sign-ins, the beta-only properties listed below.
A round trip through the SDK's serializer also shows that every enum value is one Graph defines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

from simulator import SimConfig, Simulator, demo

NOW = datetime(2026, 11, 18, 18, 0, tzinfo=UTC)
MSP = demo.MSP_TENANT_ID
CLIENTS = {c.display_name: c for c in demo.client_tenants()}
# One client of every configuration profile, plus the MSP.
PROFILE_TENANTS = [MSP, *{c.profile: c.tenant_id for c in reversed(demo.client_tenants())}.values()]
# Sign-ins and reports/ need Entra ID P1 (a tenant without it answers 403): one licensed tenant a profile
REPORTS_TENANTS = [
    MSP,
    *{c.profile: c.tenant_id for c in reversed(demo.client_tenants()) if c.premium}.values(),
]

# Sign-in properties beta returns that v1.0's SignIn model lacks. Each one appears in Microsoft's beta
# examples: signins_beta_list_ex1_password_failure_50126.response.json ("list") or
# signin_beta_get_mfa_fido2_ca_notEnabled.response.json ("get").
BETA_ONLY_SIGN_IN_PROPERTIES = {
    "originalRequestId",  # list, get
    "authenticationProtocol",  # list
    "incomingTokenType",  # list
    "homeTenantName",  # list
    "isTenantRestricted",  # list
    "tokenIssuerName",  # list, get
    "tokenIssuerType",  # list, get
    "processingTimeInMilliseconds",  # list, get
    "authenticationMethodsUsed",  # list, get
    "authenticationRequirement",  # list, get
    "uniqueTokenIdentifier",  # list
    "signInIdentifier",  # list
    "alternateSignInName",  # get
    "signInEventTypes",  # list
    "userType",  # list
    "flaggedForReview",  # list
    "autonomousSystemNumber",  # list
    "crossTenantAccessType",  # list
    "mfaDetail",  # get
    "authenticationProcessingDetails",  # list, get
    "networkLocationDetails",  # list, get
    "authenticationDetails",  # list, get
    "authenticationRequirementPolicies",  # list, get
    "sessionLifetimePolicies",  # list
}
# appliedConditionalAccessPolicy properties beta adds (the "get" example).
BETA_ONLY_APPLIED_POLICY_PROPERTIES = {"conditionsSatisfied", "conditionsNotSatisfied"}
# The keys of those two beta examples, copied from graph-samples (checked against the files when present).
BETA_SAMPLE_SIGN_IN_KEYS = {
    "signins_beta_list_ex1_password_failure_50126.response.json": {
        "appDisplayName",
        "appId",
        "appliedConditionalAccessPolicies",
        "authenticationDetails",
        "authenticationMethodsUsed",
        "authenticationProcessingDetails",
        "authenticationProtocol",
        "authenticationRequirement",
        "authenticationRequirementPolicies",
        "autonomousSystemNumber",
        "clientAppUsed",
        "conditionalAccessStatus",
        "correlationId",
        "createdDateTime",
        "crossTenantAccessType",
        "deviceDetail",
        "flaggedForReview",
        "homeTenantId",
        "homeTenantName",
        "id",
        "incomingTokenType",
        "ipAddress",
        "isInteractive",
        "isTenantRestricted",
        "location",
        "networkLocationDetails",
        "originalRequestId",
        "processingTimeInMilliseconds",
        "resourceDisplayName",
        "resourceId",
        "resourceTenantId",
        "riskDetail",
        "riskEventTypes_v2",
        "riskLevelAggregated",
        "riskLevelDuringSignIn",
        "riskState",
        "servicePrincipalId",
        "sessionLifetimePolicies",
        "signInEventTypes",
        "signInIdentifier",
        "status",
        "tokenIssuerName",
        "tokenIssuerType",
        "uniqueTokenIdentifier",
        "userAgent",
        "userDisplayName",
        "userId",
        "userPrincipalName",
        "userType",
    },
    "signin_beta_get_mfa_fido2_ca_notEnabled.response.json": {
        "alternateSignInName",
        "appDisplayName",
        "appId",
        "appliedConditionalAccessPolicies",
        "authenticationDetails",
        "authenticationMethodsUsed",
        "authenticationProcessingDetails",
        "authenticationRequirement",
        "authenticationRequirementPolicies",
        "clientAppUsed",
        "conditionalAccessStatus",
        "correlationId",
        "createdDateTime",
        "deviceDetail",
        "id",
        "ipAddress",
        "isInteractive",
        "location",
        "mfaDetail",
        "networkLocationDetails",
        "originalRequestId",
        "processingTimeInMilliseconds",
        "resourceDisplayName",
        "resourceId",
        "riskDetail",
        "riskEventTypes",
        "riskEventTypes_v2",
        "riskLevelAggregated",
        "riskLevelDuringSignIn",
        "riskState",
        "servicePrincipalId",
        "servicePrincipalName",
        "status",
        "tokenIssuerName",
        "tokenIssuerType",
        "userAgent",
        "userDisplayName",
        "userId",
        "userPrincipalName",
    },
}
# Flag enums the Python SDK mishandles, not shape errors: its serializer drops flag values written as
# one comma-separated string (REFERENCE.md, the msgraph-sdk write bug: guestOrExternalUserTypes,
# requirementsSatisfied), and it cannot read a flag *combination* inside a collection
# (authenticationStrength.allowedCombinations holds "password,microsoftAuthenticatorPush" in Graph's
# own answers).
KNOWN_SERIALIZER_LOSSES = {"guestOrExternalUserTypes", "requirementsSatisfied", "allowedCombinations"}


def _samples_dir() -> Path | None:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "shared" / "graph-samples", here / "graph-samples"):
        if candidate.is_dir():
            return candidate
    return None


# --- helpers ---------------------------------------------------------------------------------------


def parse(model: type, obj: dict) -> Any:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(obj).encode())
    return node.get_object_value(model)  # uses model.create_from_discriminator_value


def unknown_properties(model: Any, path: str = "") -> list[str]:
    """Properties kiota could not map, recursively (OData annotations such as @odata.context are not
    properties)."""
    found = [
        f"{path}{key}" for key in (getattr(model, "additional_data", None) or {}) if "@odata." not in key
    ]
    for name, value in vars(model).items():
        if name in ("additional_data", "backing_store"):
            continue
        children = value if isinstance(value, list) else [value]
        for i, child in enumerate(children):
            if isinstance(child, Parsable):
                found += unknown_properties(
                    child, f"{path}{name}{f'[{i}]' if isinstance(value, list) else ''}."
                )
    return found


def _leaf_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {p for k, v in value.items() if "@odata." not in k for p in _leaf_paths(v, f"{path}/{k}")}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in _leaf_paths(v, f"{path}/{i}")}
    return set() if value is None else {path}


def lost_values(raw: dict, model: Any) -> set[str]:
    """Non-null values of `raw` missing after model -> JSON: an enum value the SDK did not recognise
    (it parses to None), a malformed GUID or date, a wrongly typed property."""
    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    back = json.loads(writer.get_serialized_content())
    lost = _leaf_paths(raw) - _leaf_paths(back)
    return {p for p in lost if not any(f"/{k}" in p for k in KNOWN_SERIALIZER_LOSSES)}


def assert_real_shape(
    model_class: type, objects: list[dict], allowed_unknown: set[str] = frozenset()
) -> list:
    assert objects, f"no {model_class.__name__} to check"
    models = []
    for obj in objects:
        model = parse(model_class, obj)
        unknown = {u for u in unknown_properties(model) if u.split(".")[-1] not in allowed_unknown}
        assert not unknown, f"{model_class.__name__} {obj.get('id')}: unknown properties {sorted(unknown)}"
        lost = lost_values(obj, model)
        assert not lost, (
            f"{model_class.__name__} {obj.get('id')}: values the SDK could not read {sorted(lost)}"
        )
        models.append(model)
    return models


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=7, now=NOW, throttle=False)) as simulator:
        yield simulator


def get_json(sim: Simulator, tenant_id: str, path: str, version: str = "v1.0") -> Any:
    response = httpx.get(
        f"{sim.url}/{version}/{path}", headers={"Authorization": f"Bearer {sim.token(tenant_id)}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def values(sim: Simulator, tenant_id: str, path: str, version: str = "v1.0") -> list[dict]:
    return get_json(sim, tenant_id, path, version)["value"]


# --- one test per object type ----------------------------------------------------------------------


def test_conditional_access_policies(sim):
    from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy

    policies = [p for t in PROFILE_TENANTS for p in values(sim, t, "identity/conditionalAccess/policies")]
    models = assert_real_shape(ConditionalAccessPolicy, policies)
    # The multi-flag string parses into the SDK's flag list.
    excluded = [
        m.conditions.users.exclude_guests_or_external_users
        for m in models
        if m.conditions.users.exclude_guests_or_external_users
    ]
    assert any(
        len(e.guest_or_external_user_types or []) == 2 and e.external_tenants.membership_kind
        for e in excluded
    )
    single = get_json(sim, MSP, f"identity/conditionalAccess/policies/{policies[0]['id']}", "beta")
    assert_real_shape(ConditionalAccessPolicy, [single])


def test_named_locations_of_both_types(sim):
    from msgraph.generated.models.country_named_location import CountryNamedLocation
    from msgraph.generated.models.ip_named_location import IpNamedLocation
    from msgraph.generated.models.named_location import NamedLocation

    locations = [
        n for t in PROFILE_TENANTS for n in values(sim, t, "identity/conditionalAccess/namedLocations")
    ]
    models = assert_real_shape(NamedLocation, locations)
    assert {type(m) for m in models} == {IpNamedLocation, CountryNamedLocation}


def test_security_defaults(sim):
    from msgraph.generated.models.identity_security_defaults_enforcement_policy import (
        IdentitySecurityDefaultsEnforcementPolicy,
    )

    docs = [get_json(sim, t, "policies/identitySecurityDefaultsEnforcementPolicy") for t in PROFILE_TENANTS]
    models = assert_real_shape(IdentitySecurityDefaultsEnforcementPolicy, docs)
    assert {m.is_enabled for m in models} == {True, False}


def test_subscribed_skus(sim):
    from msgraph.generated.models.subscribed_sku import SubscribedSku

    skus = [s for t in PROFILE_TENANTS for s in values(sim, t, "subscribedSkus")]
    models = assert_real_shape(SubscribedSku, skus)
    plans = {p.service_plan_name for m in models for p in m.service_plans}
    assert "AAD_PREMIUM" in plans and "AAD_PREMIUM_P2" in plans


def test_users_default_and_selected(sim):
    from msgraph.generated.models.user import User

    assert_real_shape(User, values(sim, MSP, "users?$top=50"))
    every = ",".join(demo.user_object(demo.directory(7, MSP).people[0], "Portland"))
    for tenant_id in (MSP, CLIENTS["Coho Winery"].tenant_id):
        users = values(sim, tenant_id, f"users?$top=60&$select={every}")
        assert_real_shape(User, users)
        assert {u["userType"] for u in values(sim, tenant_id, "users?$top=999&$select=userType")} == {
            "Member",
            "Guest",
        } or tenant_id == MSP


def test_groups_with_members(sim):
    from msgraph.generated.models.group import Group

    groups = values(sim, MSP, "groups?$expand=members") + values(
        sim, PROFILE_TENANTS[1], "groups?$expand=members"
    )
    models = assert_real_shape(Group, groups)
    member_types = {type(member).__name__ for m in models for member in m.members}
    assert member_types == {"User", "Group"}  # the break-glass exclusion group nests a group


def test_directory_roles_with_members(sim):
    from msgraph.generated.models.directory_role import DirectoryRole

    roles = [r for t in (MSP, PROFILE_TENANTS[1]) for r in values(sim, t, "directoryRoles?$expand=members")]
    models = assert_real_shape(DirectoryRole, roles)
    ga = [m for m in models if m.role_template_id == demo.GLOBAL_ADMIN_TEMPLATE_ID]
    assert ga and all(member.user_principal_name for m in ga for member in m.members)


def test_user_registration_details(sim):
    from msgraph.generated.models.user_registration_details import UserRegistrationDetails

    details = [
        d
        for t in REPORTS_TENANTS
        for d in values(sim, t, "reports/authenticationMethods/userRegistrationDetails?$top=40")
    ]
    models = assert_real_shape(UserRegistrationDetails, details)
    assert {m.is_mfa_capable for m in models} == {True, False}
    assert any(m.is_admin for m in models)


def test_delegated_admin_relationships(sim):
    from msgraph.generated.models.delegated_admin_relationship import DelegatedAdminRelationship

    relationships = values(sim, MSP, "tenantRelationships/delegatedAdminRelationships")
    assert len(relationships) == sum(c.access_mode == "gdap" for c in demo.client_tenants())
    assert_real_shape(DelegatedAdminRelationship, relationships)


def test_contracts(sim):
    from msgraph.generated.models.contract import Contract

    assert_real_shape(Contract, values(sim, MSP, "contracts"))


def _varied_sign_ins(sim: Simulator) -> list[dict]:
    """Sign-ins of every kind the simulator makes: one per tenant, event type, status, CA result..."""
    picked: dict[tuple, dict] = {}
    flt = (
        "createdDateTime ge 2026-11-18T08:00:00Z and signInEventTypes/any(t: t eq 'interactiveUser' or "
        "t eq 'nonInteractiveUser')"
    )
    for tenant_id in REPORTS_TENANTS:
        for s in values(sim, tenant_id, f"auditLogs/signIns?$filter={flt}", "beta"):
            key = (
                tenant_id,
                s["isInteractive"],
                s["status"]["errorCode"],
                s["conditionalAccessStatus"],
                s["crossTenantAccessType"],
                s["authenticationRequirement"],
                tuple(sorted({a["result"] for a in s["appliedConditionalAccessPolicies"]})),
            )
            picked.setdefault(key, s)
    return list(picked.values())


def test_sign_ins_beta_shape(sim):
    from msgraph.generated.models.sign_in import SignIn

    sign_ins = _varied_sign_ins(sim)
    assert len(sign_ins) > 40
    allowed = BETA_ONLY_SIGN_IN_PROPERTIES | BETA_ONLY_APPLIED_POLICY_PROPERTIES
    models = assert_real_shape(SignIn, sign_ins, allowed_unknown=allowed)
    # Every allow-listed property is really served (the list is not padding).
    served = {k for s in sign_ins for k in s} | {
        k for s in sign_ins for a in s["appliedConditionalAccessPolicies"] for k in a
    }
    assert allowed <= served
    results = {a.result.value for m in models for a in m.applied_conditional_access_policies}
    assert {
        "success",
        "failure",
        "notApplied",
        "notEnabled",
        "reportOnlySuccess",
        "reportOnlyNotApplied",
        "reportOnlyFailure",
    } <= results


def test_beta_allow_list_is_microsofts():
    sample_keys = set().union(*BETA_SAMPLE_SIGN_IN_KEYS.values())
    assert BETA_ONLY_SIGN_IN_PROPERTIES <= sample_keys
    samples = _samples_dir()
    if samples is None:
        pytest.skip("graph-samples not available beside the repository")
    for name, keys in BETA_SAMPLE_SIGN_IN_KEYS.items():
        document = json.loads((samples / name).read_text(encoding="utf-8"))
        obj = document["value"][0] if "value" in document else document
        assert set(obj) == keys, name
        if "fido2" in name:
            assert BETA_ONLY_APPLIED_POLICY_PROPERTIES <= set(obj["appliedConditionalAccessPolicies"][0])
