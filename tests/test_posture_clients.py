"""D-1..2: client tenants' policies and the MSP's blocked sign-ins."""

from __future__ import annotations

from posture_fixtures import (
    CLIENT_ADMIN_ID,
    CLIENT_ID,
    CLIENT_MFA_POLICY_ID,
    DIRECT_ID,
    DIRECT_SA_ID,
    DIRECT_SA_UPN,
    GLOBAL_ADMIN,
    MSP_ID,
    OTHER_PARTNER_ID,
    SA_UPN,
    TECH_ID,
    applied,
    client,
    directory_role,
    find_policy,
    good_snapshot,
    group,
    guests,
    member_user,
    one,
    policy,
    run,
    signin,
    tenant,
    user,
    with_direct_tenant,
)


def _client_policy(snapshot: dict) -> dict:
    return find_policy(client(snapshot), CLIENT_MFA_POLICY_ID)


def _users(snapshot: dict) -> dict:
    return _client_policy(snapshot)["conditions"]["users"]


def test_d1_passes_with_service_provider_among_several_guest_types():
    finding = one(good_snapshot(), "D-1", tenant_id=CLIENT_ID)
    assert (finding.status, finding.subject.type, finding.subject.id) == (
        "pass",
        "policy",
        CLIENT_MFA_POLICY_ID,
    )
    assert (
        finding.evidence["excludeGuestsOrExternalUsers"]["guestOrExternalUserTypes"]
        == "internalGuest,serviceProvider"
    )


def test_d1_passes_with_the_msp_enumerated_in_external_tenants():
    snapshot = good_snapshot()
    _users(snapshot)["excludeGuestsOrExternalUsers"] = guests("serviceProvider", [MSP_ID.upper()])
    assert one(snapshot, "D-1", tenant_id=CLIENT_ID).status == "pass"


def test_d1_fails_when_external_tenants_enumerate_another_partner_and_says_so():
    snapshot = good_snapshot()
    _users(snapshot)["excludeGuestsOrExternalUsers"] = guests("serviceProvider", [OTHER_PARTNER_ID])
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail"
    assert (
        f"excludes service providers of tenant(s) {OTHER_PARTNER_ID} only, not the MSP ({MSP_ID})"
        in finding.message
    )
    assert finding.fix == "client-policy.exclude-service-provider"


def test_d1_fails_when_the_excluded_guest_types_lack_service_provider():
    snapshot = good_snapshot()
    _users(snapshot)["excludeGuestsOrExternalUsers"] = guests("b2bCollaborationGuest,b2bCollaborationMember")
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail"
    assert (
        "excludes guest types 'b2bCollaborationGuest,b2bCollaborationMember' but not serviceProvider"
        in finding.message
    )


def test_d1_fails_without_any_exclusion():
    snapshot = good_snapshot()
    _users(snapshot)["excludeGuestsOrExternalUsers"] = None
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "no service-provider exclusion" in finding.message


def test_d1_fails_for_a_report_only_policy_too():
    snapshot = good_snapshot()
    _client_policy(snapshot)["state"] = "enabledForReportingButNotEnforced"
    _users(snapshot)["excludeGuestsOrExternalUsers"] = None
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "(report-only)" in finding.message


def test_d1_fails_for_a_role_targeted_policy_without_exclusion():
    snapshot = good_snapshot()
    _users(snapshot).update(includeUsers=[], includeRoles=[GLOBAL_ADMIN], excludeGuestsOrExternalUsers=None)
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "directory role(s)" in finding.message


def test_d1_fails_for_a_policy_including_service_provider_guests():
    snapshot = good_snapshot()
    _users(snapshot).update(
        includeUsers=[],
        excludeGuestsOrExternalUsers=None,
        includeGuestsOrExternalUsers=guests("internalGuest,serviceProvider"),
    )
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "service-provider users" in finding.message


def test_d1_is_na_for_service_provider_guests_of_another_tenant_only():
    snapshot = good_snapshot()
    _users(snapshot).update(
        includeUsers=[],
        excludeGuestsOrExternalUsers=None,
        includeGuestsOrExternalUsers=guests("serviceProvider", [OTHER_PARTNER_ID]),
    )
    assert one(snapshot, "D-1", tenant_id=CLIENT_ID).status == "n/a"


def test_d1_fails_for_guests_or_external_users_in_include_users():
    snapshot = good_snapshot()
    _users(snapshot).update(includeUsers=["GuestsOrExternalUsers"], excludeGuestsOrExternalUsers=None)
    assert one(snapshot, "D-1", tenant_id=CLIENT_ID).status == "fail"


def test_d1_is_na_for_a_group_targeted_policy():
    snapshot = good_snapshot()
    _users(snapshot).update(includeUsers=[], includeGroups=["finance"], excludeGuestsOrExternalUsers=None)
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "n/a" and finding.fix is None


def test_d1_is_na_for_a_disabled_policy():
    snapshot = good_snapshot()
    _client_policy(snapshot)["state"] = "disabled"
    _users(snapshot)["excludeGuestsOrExternalUsers"] = None
    assert one(snapshot, "D-1", tenant_id=CLIENT_ID).status == "n/a"


def test_d1_is_na_when_policies_were_not_collected():
    snapshot = good_snapshot()
    del client(snapshot)["conditionalAccessPolicies"]
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert (finding.status, finding.subject.type) == ("n/a", "tenant")


def test_d1_passes_for_a_tenant_without_policies():
    snapshot = good_snapshot()
    client(snapshot)["conditionalAccessPolicies"] = []
    assert one(snapshot, "D-1", tenant_id=CLIENT_ID).status == "pass"


def test_d1_does_not_judge_the_msp_tenant():
    assert {f.tenant_id for f in run(good_snapshot(), "D-1")} == {CLIENT_ID}


def test_d1_direct_tenant_passes_when_the_service_account_from_cipp_is_excluded():
    snapshot = with_direct_tenant(good_snapshot())
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "pass"
    assert (finding.evidence["accessMode"], finding.evidence["serviceAccountId"]) == ("direct", DIRECT_SA_ID)


def test_d1_direct_tenant_matches_the_upn_case_insensitively():
    snapshot = with_direct_tenant(good_snapshot())
    snapshot["cipp"]["tenants"][-1]["directTenantUserPrincipalName"] = DIRECT_SA_UPN.upper()
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "pass"


def test_d1_direct_tenant_fails_without_the_service_account_exclusion():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["conditionalAccessPolicies"][0]["conditions"]["users"]["excludeUsers"] = [
        CLIENT_ADMIN_ID
    ]
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "fail"
    assert f"does not exclude the service account {DIRECT_SA_UPN}" in finding.message
    assert finding.fix == "client-policy.exclude-service-provider"


def test_d1_direct_tenant_ignores_a_service_provider_exclusion():
    snapshot = with_direct_tenant(good_snapshot())
    users = tenant(snapshot, DIRECT_ID)["conditionalAccessPolicies"][0]["conditions"]["users"]
    users.update(excludeUsers=[], excludeGuestsOrExternalUsers=guests("serviceProvider"))
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "fail"


def test_d1_direct_tenant_falls_back_to_the_msp_service_account_upn():
    snapshot = with_direct_tenant(good_snapshot(), upn_in_cipp=False)
    direct = tenant(snapshot, DIRECT_ID)
    direct["users"].append(user("local-cipp", SA_UPN))
    direct["conditionalAccessPolicies"][0]["conditions"]["users"]["excludeUsers"] = ["local-cipp"]
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "pass"


def test_d1_access_mode_on_the_tenant_wins_over_cipp():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["accessMode"] = "GDAP"
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert (finding.status, finding.evidence["accessMode"]) == ("fail", "gdap")


def test_d1_direct_tenant_is_na_when_the_service_account_is_not_a_user():
    snapshot = with_direct_tenant(good_snapshot())
    snapshot["cipp"]["tenants"][-1]["directTenantUserPrincipalName"] = "nobody@direct.example"
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "n/a"


def test_d1_direct_tenant_is_na_for_a_policy_that_cannot_reach_the_account():
    snapshot = with_direct_tenant(good_snapshot())
    users = tenant(snapshot, DIRECT_ID)["conditionalAccessPolicies"][0]["conditions"]["users"]
    users.update(includeUsers=[CLIENT_ADMIN_ID], excludeUsers=[])
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "n/a"


def _blocked(sid: str = "s-blocked", **kwargs) -> dict:
    fields = {
        "error": 53003,
        "ca_status": "failure",
        "home_tenant": MSP_ID,
        "cross_tenant": "serviceProvider",
        "applied": [
            applied("p-office", "CA010: Block access from outside the office"),
            applied("p-mfa", "CA001: Require MFA", result="success"),
        ],
    }
    fields.update(kwargs)
    return signin(sid, TECH_ID, "alex@msp.example", **fields)


def test_d2_passes_when_no_service_provider_sign_in_was_blocked():
    finding = one(good_snapshot(), "D-2", tenant_id=CLIENT_ID)
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "tenant", CLIENT_ID)


def test_d2_passes_without_sign_ins_in_the_window():
    snapshot = good_snapshot()
    client(snapshot)["signIns"] = []
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "pass" and "no sign-ins in the window" in finding.message


def test_d2_fails_for_a_blocked_sign_in_and_names_the_policy():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked())
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "fail"
    assert "'CA010: Block access from outside the office' (1)" in finding.message
    assert "CA001" not in finding.message
    assert finding.evidence["blockingPolicies"] == [
        {"id": "p-office", "name": "CA010: Block access from outside the office", "signIns": 1}
    ]
    assert finding.fix is None


def test_d2_recognises_service_providers_by_cross_tenant_access_type_alone():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(home_tenant=None, cross_tenant="ServiceProvider"))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "fail"


def test_d2_recognises_service_providers_by_home_tenant_alone():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(cross_tenant="none", error=0))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "fail"


def test_d2_counts_53003_without_conditional_access_status():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(ca_status="someNewValue"))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "fail"


def test_d2_tolerates_unknown_conditional_access_status_values():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(error=None, ca_status="unknownFutureValue"))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "pass"


def test_d2_ignores_blocked_sign_ins_of_the_clients_own_users():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(home_tenant=CLIENT_ID, cross_tenant="none"))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "pass"


def test_d2_ignores_blocked_sign_ins_outside_the_window():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(at="2026-11-21T11:59:59Z"))
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "pass"


def test_d2_without_collected_at_counts_every_sign_in():
    snapshot = good_snapshot()
    del snapshot["collectedAt"]
    client(snapshot)["signIns"].append(_blocked(at="2020-01-01T00:00:00Z"))
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "window" in finding.evidence


def test_d2_is_na_when_sign_ins_were_not_collected():
    snapshot = good_snapshot()
    del client(snapshot)["signIns"]
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "n/a"


def test_d1_judges_every_policy_of_a_tenant():
    snapshot = good_snapshot()
    client(snapshot)["conditionalAccessPolicies"].append(
        policy(
            "p-office",
            "CA010: Block outside the office",
            users={"includeUsers": ["All"]},
            locations=(["All"], ["AllTrusted"]),
            grant=["block"],
        )
    )
    statuses = {f.subject.id: f.status for f in run(snapshot, "D-1")}
    assert statuses == {CLIENT_MFA_POLICY_ID: "pass", "p-office": "fail"}


# --- catalogue v2 -----------------------------------------------------------------------------------


def _direct_users(snapshot: dict) -> dict:
    return tenant(snapshot, DIRECT_ID)["conditionalAccessPolicies"][0]["conditions"]["users"]


def test_d1_gdap_passes_for_legacy_guests_or_external_users_in_exclude_users():
    snapshot = good_snapshot()
    _users(snapshot).update(excludeGuestsOrExternalUsers=None, excludeUsers=["GuestsOrExternalUsers"])
    finding = one(snapshot, "D-1", CLIENT_MFA_POLICY_ID)
    assert finding.status == "pass" and "GuestsOrExternalUsers in excludeUsers" in finding.message


def test_d1_gdap_fails_for_a_powershell_stringified_external_tenants():
    snapshot = good_snapshot()
    _users(snapshot)["excludeGuestsOrExternalUsers"]["externalTenants"] = (
        "@{@odata.type=#microsoft.graph.conditionalAccessAllExternalTenants; membershipKind=all}"
    )
    finding = one(snapshot, "D-1", CLIENT_MFA_POLICY_ID)
    assert finding.status == "fail" and "unreadable externalTenants" in finding.message


def test_d1_is_na_for_a_policy_on_application_none():
    snapshot = good_snapshot()
    _client_policy(snapshot)["conditions"]["applications"]["includeApplications"] = ["None"]
    _users(snapshot)["excludeGuestsOrExternalUsers"] = None
    finding = one(snapshot, "D-1", CLIENT_MFA_POLICY_ID)
    assert finding.status == "n/a" and "application None" in finding.message


def test_d1_is_na_for_a_state_outside_graphs_set_and_names_it_as_written():
    snapshot = good_snapshot()
    _client_policy(snapshot)["state"] = "reportOnly"
    _users(snapshot)["excludeGuestsOrExternalUsers"] = None
    finding = one(snapshot, "D-1", CLIENT_MFA_POLICY_ID)
    assert finding.status == "n/a" and "'reportOnly'" in finding.message
    assert finding.evidence["state"] == "reportOnly"


def test_d1_direct_passes_when_the_service_account_is_excluded_through_a_nested_group():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["groups"] = [
        group("g-ex", "CIPP exclusions", [{"@odata.type": "#microsoft.graph.group", "id": "g-t0"}]),
        group("g-t0", "Tier0", [member_user(DIRECT_SA_ID)]),
    ]
    _direct_users(snapshot).update(excludeUsers=[CLIENT_ADMIN_ID], excludeGroups=["g-ex"])
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "pass"
    assert finding.evidence["excluded"] == "excluded through group 'CIPP exclusions' → 'Tier0'"


def test_d1_direct_passes_when_the_service_account_is_excluded_through_a_role():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["directoryRoles"] = [
        directory_role(GLOBAL_ADMIN, "Global Administrator", [DIRECT_SA_ID])
    ]
    _direct_users(snapshot).update(excludeUsers=[], excludeRoles=[GLOBAL_ADMIN])
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "pass" and "excluded through role Global Administrator" in finding.message


def test_d1_direct_fails_when_an_excluded_group_does_not_hold_the_service_account():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["groups"] = [group("g-ex", "CIPP exclusions", [member_user(CLIENT_ADMIN_ID)])]
    _direct_users(snapshot).update(excludeUsers=[], excludeGroups=["g-ex"])
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "fail"


def test_d1_direct_is_na_for_a_group_it_is_not_in_and_for_guest_only_targeting():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["groups"] = [group("g-fin", "Finance", [member_user(CLIENT_ADMIN_ID)])]
    _direct_users(snapshot).update(includeUsers=[], includeGroups=["g-fin"], excludeUsers=[])
    assert one(snapshot, "D-1", tenant_id=DIRECT_ID).status == "n/a"
    _direct_users(snapshot).update(includeGroups=[], includeUsers=["GuestsOrExternalUsers"])
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "n/a" and "cannot apply" in finding.message


def test_d1_direct_fails_for_a_role_the_service_account_holds_without_exclusion():
    snapshot = with_direct_tenant(good_snapshot())
    tenant(snapshot, DIRECT_ID)["directoryRoles"] = [
        directory_role(GLOBAL_ADMIN, "Global Administrator", [DIRECT_SA_ID])
    ]
    _direct_users(snapshot).update(includeUsers=[], includeRoles=[GLOBAL_ADMIN], excludeUsers=[])
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "fail" and "included through role Global Administrator" in finding.message


def test_d2_ignores_service_provider_sign_ins_whose_home_tenant_is_another_partner():
    snapshot = good_snapshot()
    client(snapshot)["signIns"].append(_blocked(home_tenant=OTHER_PARTNER_ID))
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "pass"
    assert (finding.evidence["otherPartnersSignIns"], finding.evidence["otherPartnersBlocked"]) == (1, 1)
    assert finding.evidence["otherPartnerTenants"] == [OTHER_PARTNER_ID]
    assert "other partners' service providers, 1 blocked, are not the MSP's" in finding.message


def test_d2_is_na_not_licensed_for_a_tenant_without_entra_id_p1():
    snapshot = good_snapshot()
    del client(snapshot)["signIns"]
    client(snapshot)["sourceStatus"] = {
        "signIns": {"lastSuccess": None, "lastError": None, "state": "not-licensed"}
    }
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "n/a"
    assert finding.message.startswith("not licensed: the tenant has no Entra ID P1")


def test_d1_is_na_consent_needed_when_the_app_is_not_consented_in_the_tenant():
    snapshot = good_snapshot()
    del client(snapshot)["conditionalAccessPolicies"]
    client(snapshot)["sourceStatus"] = {
        "conditionalAccessPolicies": {"lastSuccess": None, "lastError": None, "state": "consent-needed"}
    }
    finding = one(snapshot, "D-1", tenant_id=CLIENT_ID)
    assert finding.status == "n/a" and finding.message.startswith("consent needed: Perimeter's app is not")


def test_d2_no_sign_ins_passes_only_when_collected_successfully_in_the_window():
    snapshot = good_snapshot()
    client(snapshot)["signIns"] = []
    client(snapshot)["sourceStatus"] = {"signIns": {"lastSuccess": "2026-11-22T11:58:00Z", "lastError": None}}
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "pass" and finding.evidence["signInsLastSuccess"] == "2026-11-22T11:58:00Z"
    client(snapshot)["sourceStatus"]["signIns"] = {
        "lastSuccess": "2026-11-19T08:00:00Z",
        "lastError": "2026-11-22T11:58:00Z",
    }
    finding = one(snapshot, "D-2", tenant_id=CLIENT_ID)
    assert finding.status == "n/a" and "last success: 2026-11-19T08:00:00Z" in finding.message
    client(snapshot)["sourceStatus"]["signIns"] = {"lastSuccess": None, "lastError": "2026-11-22T11:58:00Z"}
    assert one(snapshot, "D-2", tenant_id=CLIENT_ID).status == "n/a"


def test_d1_direct_fails_when_a_group_exclusion_cannot_be_confirmed_and_says_so():
    snapshot = with_direct_tenant(good_snapshot())
    _direct_users(snapshot).update(excludeUsers=[], excludeGroups=["g-unknown"])  # groups not collected
    finding = one(snapshot, "D-1", tenant_id=DIRECT_ID)
    assert finding.status == "fail" and "cannot be confirmed" in finding.message
