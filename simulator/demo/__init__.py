"""The deterministic demo MSP: "Northwind MSP" and its 25 client tenants.

Everything here is a pure function of the seed (and, for timestamps of configuration objects, of the
simulator's start time). The data is built so that every posture check of the catalogue has a passing
and a failing subject somewhere (docs/simulator-contract.md, "Demo MSP", says which objects do).

Tenants, their names and ids do not depend on the seed; people, ids of objects, devices and sign-ins do.

Modules: `ids` (fixed identities, role ids, id and timestamp formats), `licences` (SKUs), `tenants`
(the client table), `people` (directories), `directory_objects` (users, groups, roles, SKUs as Graph
returns them), `ca_objects` (named locations and policies), `msp_policies` (the MSP's Conditional
Access), `client_profiles` (the clients' Conditional Access, one profile per row), `gdap` (GDAP
relationships and CIPP's tables), `audit_objects` (directory audit entries and their history).
Everything other code uses is re-exported here: `demo.X`.
"""

from simulator.demo.audit_objects import (
    AUDIT_CATEGORY,
    AUDIT_SERVICE,
    LOCATION_KIND,
    PERIMETER_APP_NAME,
    POLICY_KIND,
    AuditEntry,
    app_initiator,
    audit_history,
    client_admin,
    directory_audit,
    user_initiator,
)
from simulator.demo.ca_objects import (
    TenantConfig,
    country_location,
    empty_policy,
    empty_session_controls,
    guests_condition,
    ip_location,
    ip_range,
    mfa_strength,
    policy,
)
from simulator.demo.client_profiles import CLIENT_PROFILES, client_config, initial_config
from simulator.demo.directory_objects import (
    USER_DEFAULT_PROPERTIES,
    directory_role_object,
    group_object,
    registration_object,
    security_defaults_object,
    subscribed_skus,
    user_object,
)
from simulator.demo.gdap import ApiClientRow, cipp_tenants, delegated_admin_relationships, initial_api_clients
from simulator.demo.ids import (
    ADMIN_ROLE_IDS_FOR_POLICIES,
    BREAK_GLASS_UPNS,
    CIPP_API_URL,
    CIPP_APP_ID,
    CIPP_APP_NAME,
    CIPP_EGRESS_IP,
    CIPP_EGRESS_PLACE,
    CIPP_SAM_APP_ID,
    CIPP_SAM_APP_NAME,
    CO_MANAGED_DOMAINS,
    EMERGENCY_ACCESS_UPN,
    GDAP_ROLE_TEMPLATE_IDS,
    GLOBAL_ADMIN_TEMPLATE_ID,
    GRAPH_AUDIENCES,
    MFA_STRENGTH_ID,
    MSP_CITY,
    MSP_DOMAIN,
    MSP_NAME,
    MSP_OFFICE_IPS,
    MSP_OFFICE_IPV6_RANGE,
    MSP_OFFICE_RANGE,
    MSP_TENANT_ID,
    OTHER_PARTNER_CITY,
    OTHER_PARTNER_DOMAIN,
    OTHER_PARTNER_NAME,
    OTHER_PARTNER_TENANT_ID,
    PERIMETER_APP_ID,
    PERIMETER_CIPP_CLIENT_ID,
    ROLES,
    SECURITY_DEFAULTS_ID,
    SERVICE_ACCOUNT_UPN,
    TRUSTED_LOCATION_NAME,
    iso,
    new_guid,
)
from simulator.demo.licences import SERVICE_PLANS, SKUS, has_premium
from simulator.demo.msp_policies import msp_config
from simulator.demo.people import Directory, Group, Person, directory, partner_technicians
from simulator.demo.tenants import (
    DEMO_CLIENTS,
    MAX_CLIENTS,
    UNCONSENTED_DOMAINS,
    ClientTenant,
    all_tenant_ids,
    client_by_id,
    client_tenants,
    co_managed,
    consented,
    licensed_for_reports,
    office_range,
)

__all__ = [
    # audit_objects
    "AUDIT_CATEGORY",
    "AUDIT_SERVICE",
    "LOCATION_KIND",
    "PERIMETER_APP_NAME",
    "POLICY_KIND",
    "AuditEntry",
    "app_initiator",
    "audit_history",
    "client_admin",
    "directory_audit",
    "user_initiator",
    # ids
    "ADMIN_ROLE_IDS_FOR_POLICIES",
    "BREAK_GLASS_UPNS",
    "CIPP_API_URL",
    "CIPP_APP_ID",
    "CIPP_APP_NAME",
    "CIPP_EGRESS_IP",
    "CIPP_EGRESS_PLACE",
    "CIPP_SAM_APP_ID",
    "CIPP_SAM_APP_NAME",
    "CO_MANAGED_DOMAINS",
    "EMERGENCY_ACCESS_UPN",
    "GDAP_ROLE_TEMPLATE_IDS",
    "GLOBAL_ADMIN_TEMPLATE_ID",
    "GRAPH_AUDIENCES",
    "MFA_STRENGTH_ID",
    "MSP_CITY",
    "MSP_DOMAIN",
    "MSP_NAME",
    "MSP_OFFICE_IPS",
    "MSP_OFFICE_IPV6_RANGE",
    "MSP_OFFICE_RANGE",
    "MSP_TENANT_ID",
    "OTHER_PARTNER_CITY",
    "OTHER_PARTNER_DOMAIN",
    "OTHER_PARTNER_NAME",
    "OTHER_PARTNER_TENANT_ID",
    "PERIMETER_APP_ID",
    "PERIMETER_CIPP_CLIENT_ID",
    "ROLES",
    "SECURITY_DEFAULTS_ID",
    "SERVICE_ACCOUNT_UPN",
    "TRUSTED_LOCATION_NAME",
    "iso",
    "new_guid",
    # licences
    "SERVICE_PLANS",
    "SKUS",
    "has_premium",
    # tenants
    "DEMO_CLIENTS",
    "MAX_CLIENTS",
    "UNCONSENTED_DOMAINS",
    "ClientTenant",
    "all_tenant_ids",
    "client_by_id",
    "client_tenants",
    "co_managed",
    "consented",
    "licensed_for_reports",
    "office_range",
    # people
    "Directory",
    "Group",
    "Person",
    "directory",
    "partner_technicians",
    # directory_objects
    "USER_DEFAULT_PROPERTIES",
    "directory_role_object",
    "group_object",
    "registration_object",
    "security_defaults_object",
    "subscribed_skus",
    "user_object",
    # ca_objects
    "TenantConfig",
    "country_location",
    "empty_policy",
    "empty_session_controls",
    "guests_condition",
    "ip_location",
    "ip_range",
    "mfa_strength",
    "policy",
    # msp_policies, client_profiles
    "CLIENT_PROFILES",
    "client_config",
    "initial_config",
    "msp_config",
    # gdap
    "ApiClientRow",
    "cipp_tenants",
    "delegated_admin_relationships",
    "initial_api_clients",
]
