"""MFA-1..3: MFA capability and enforcement in every tenant."""

from __future__ import annotations

from posture_fixtures import (
    CLIENT_ADMIN_ID,
    CLIENT_ID,
    CLIENT_MFA_POLICY_ID,
    MSP_ID,
    MSP_MFA_POLICY_ID,
    SA_POLICY_ID,
    TECHS_GROUP_ID,
    TRUSTED_ID,
    client,
    find_policy,
    good_snapshot,
    msp,
    one,
    registration,
    run,
    user,
)


def _client_with_members(capable: int, total: int) -> dict:
    snapshot = good_snapshot()
    tenant_doc = client(snapshot)
    tenant_doc["users"] = [user(f"u{i}", f"u{i}@tailspintoys.com") for i in range(total)]
    tenant_doc["userRegistrationDetails"] = [
        registration(f"u{i}", f"u{i}@tailspintoys.com", capable=i < capable) for i in range(total)
    ]
    return snapshot


def test_mfa1_covers_every_tenant_the_msp_included():
    assert [f.tenant_id for f in run(good_snapshot(), "MFA-1")] == [MSP_ID, CLIENT_ID]


def test_mfa1_passes_at_95_percent():
    finding = one(_client_with_members(19, 20), "MFA-1", tenant_id=CLIENT_ID)
    assert finding.status == "pass" and finding.evidence["ratio"] == 0.95


def test_mfa1_warns_from_80_percent():
    assert one(_client_with_members(16, 20), "MFA-1", tenant_id=CLIENT_ID).status == "warn"


def test_mfa1_fails_below_80_percent():
    finding = one(_client_with_members(15, 20), "MFA-1", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "15 of 20" in finding.message


def test_mfa1_thresholds_are_options():
    assert (
        one(
            _client_with_members(15, 20), "MFA-1", tenant_id=CLIENT_ID, mfa_pass_ratio=0.7, mfa_warn_ratio=0.5
        ).status
        == "pass"
    )


def test_mfa1_ignores_disabled_users_and_guests():
    snapshot = _client_with_members(19, 20)
    tenant_doc = client(snapshot)
    tenant_doc["users"] += [user("off", "off@tailspintoys.com", enabled=False), user("g", "g@x.example")]
    tenant_doc["userRegistrationDetails"] += [
        registration("off", "off@tailspintoys.com", capable=False),
        registration("g", "g@x.example", capable=False, user_type="guest"),
    ]
    assert one(snapshot, "MFA-1", tenant_id=CLIENT_ID).evidence["enabledMembers"] == 20


def test_mfa1_is_na_without_registration_details():
    snapshot = good_snapshot()
    del client(snapshot)["userRegistrationDetails"]
    assert one(snapshot, "MFA-1", tenant_id=CLIENT_ID).status == "n/a"


def test_mfa1_and_mfa2_are_na_not_licensed_in_a_tenant_without_entra_id_p1():
    snapshot = good_snapshot()
    del client(snapshot)["userRegistrationDetails"]
    client(snapshot)["sourceStatus"] = {
        "userRegistrationDetails": {"lastSuccess": None, "lastError": None, "state": "not-licensed"}
    }
    for check in ("MFA-1", "MFA-2"):
        finding = one(snapshot, check, tenant_id=CLIENT_ID)
        assert finding.status == "n/a" and finding.message.startswith("not licensed: ")
        assert "user registration details (not an error)" in finding.message


def test_mfa1_is_na_without_users():
    snapshot = good_snapshot()
    del client(snapshot)["users"]
    assert one(snapshot, "MFA-1", tenant_id=CLIENT_ID).status == "n/a"


def test_mfa2_passes_when_every_admin_is_capable():
    assert one(good_snapshot(), "MFA-2", tenant_id=CLIENT_ID).status == "pass"


def test_mfa2_fails_for_an_admin_without_mfa_and_names_them():
    snapshot = good_snapshot()
    client(snapshot)["userRegistrationDetails"][0]["isMfaCapable"] = False
    finding = one(snapshot, "MFA-2", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "admin@tailspintoys.com" in finding.message


def test_mfa2_ignores_a_disabled_admin():
    snapshot = good_snapshot()
    client(snapshot)["userRegistrationDetails"][0]["isMfaCapable"] = False
    next(u for u in client(snapshot)["users"] if u["id"] == CLIENT_ADMIN_ID)["accountEnabled"] = False
    assert one(snapshot, "MFA-2", tenant_id=CLIENT_ID).status == "n/a"


def test_mfa2_is_na_without_registration_details():
    snapshot = good_snapshot()
    del client(snapshot)["userRegistrationDetails"]
    assert one(snapshot, "MFA-2", tenant_id=CLIENT_ID).status == "n/a"


def test_mfa3_passes_with_an_enabled_policy_for_all_users_and_apps():
    assert one(good_snapshot(), "MFA-3", tenant_id=CLIENT_ID).status == "pass"


def test_mfa3_passes_with_security_defaults_on():
    snapshot = good_snapshot()
    client(snapshot)["securityDefaults"]["isEnabled"] = True
    client(snapshot)["conditionalAccessPolicies"] = []
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "pass"


def test_mfa3_passes_with_an_authentication_strength():
    snapshot = good_snapshot()
    grant = find_policy(client(snapshot), CLIENT_MFA_POLICY_ID)["grantControls"]
    grant.update(builtInControls=[], authenticationStrength={"id": "00000000-0000-0000-0000-000000000002"})
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "pass"


def test_mfa3_fails_when_the_policy_is_report_only_and_says_so():
    snapshot = good_snapshot()
    find_policy(client(snapshot), CLIENT_MFA_POLICY_ID)["state"] = "enabledForReportingButNotEnforced"
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "'CA001: Require MFA for all users' is report-only" in finding.message


def test_mfa3_fails_for_a_policy_on_selected_apps_only():
    snapshot = good_snapshot()
    applications = find_policy(client(snapshot), CLIENT_MFA_POLICY_ID)["conditions"]["applications"]
    applications["includeApplications"] = ["Office365"]
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "fail"


def test_mfa3_is_na_without_security_defaults_and_no_enforcing_policy():
    snapshot = good_snapshot()
    del client(snapshot)["securityDefaults"]
    client(snapshot)["conditionalAccessPolicies"] = []
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "n/a"


def test_mfa3_is_na_without_policies_while_security_defaults_are_off():
    snapshot = good_snapshot()
    del client(snapshot)["conditionalAccessPolicies"]
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "n/a"


# --- catalogue v2: MFA-3 counts only full coverage, MFA by the rule, exclusions named -------------


def _client_mfa(snapshot: dict) -> dict:
    return find_policy(client(snapshot), CLIENT_MFA_POLICY_ID)


def test_mfa3_msp_passes_excluding_break_glass_and_the_service_account_its_own_policy_covers():
    finding = one(good_snapshot(), "MFA-3", tenant_id=MSP_ID)
    assert finding.status == "pass" and finding.evidence["exceptions"] == []
    assert finding.evidence["enforcing"] == MSP_MFA_POLICY_ID


def test_mfa3_warns_for_an_excluded_user_who_is_not_break_glass_and_names_them():
    snapshot = good_snapshot()
    _client_mfa(snapshot)["conditions"]["users"]["excludeUsers"] = [CLIENT_ADMIN_ID]
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert finding.status == "warn" and "user admin@tailspintoys.com" in finding.message
    assert finding.evidence["exceptions"] == ["user admin@tailspintoys.com"]


def test_mfa3_allows_a_client_break_glass_account_found_by_name():
    snapshot = good_snapshot()
    client(snapshot)["users"].append(user("bg-client", "breakglass@tailspintoys.com"))
    _client_mfa(snapshot)["conditions"]["users"]["excludeUsers"] = ["bg-client"]
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "pass"


def test_mfa3_warns_when_the_service_account_policy_does_not_enforce():
    snapshot = good_snapshot()
    find_policy(msp(snapshot), SA_POLICY_ID)["state"] = "enabledForReportingButNotEnforced"
    finding = one(snapshot, "MFA-3", tenant_id=MSP_ID)
    assert finding.status == "warn" and finding.evidence["exceptions"] == ["user cipp@msp.example"]


def test_mfa3_warns_for_an_excluded_group_or_role_of_ordinary_users():
    snapshot = good_snapshot()
    users = find_policy(msp(snapshot), MSP_MFA_POLICY_ID)["conditions"]["users"]
    users["excludeGroups"].append(TECHS_GROUP_ID)
    users["excludeRoles"] = ["fe930be7-5e62-47db-91af-98c3a49a38b1"]
    finding = one(snapshot, "MFA-3", tenant_id=MSP_ID)
    assert finding.status == "warn"
    assert finding.evidence["exceptions"] == [
        "group 'CIPP Technicians' (alex@msp.example)",
        "role User Administrator",
    ]


def test_mfa3_warns_for_a_location_exclusion_and_names_it():
    snapshot = good_snapshot()
    find_policy(msp(snapshot), MSP_MFA_POLICY_ID)["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": [TRUSTED_ID],
    }
    finding = one(snapshot, "MFA-3", tenant_id=MSP_ID)
    assert finding.status == "warn" and "'Trusted - MSP Office'" in finding.message


def test_mfa3_fails_for_mfa_or_compliant_device_and_says_why():
    snapshot = good_snapshot()
    _client_mfa(snapshot)["grantControls"]["builtInControls"] = ["mfa", "compliantDevice"]
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "operator OR lets compliantDevice stand in for mfa" in finding.message


def test_mfa3_fails_for_a_policy_narrowed_to_browsers():
    snapshot = good_snapshot()
    _client_mfa(snapshot)["conditions"]["clientAppTypes"] = ["browser"]
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "client apps only browser" in finding.message


def test_mfa3_a_state_outside_graphs_set_is_not_enforced_and_named_as_written():
    snapshot = good_snapshot()
    _client_mfa(snapshot)["state"] = "reportOnly"
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert finding.status == "fail" and "in state 'reportOnly'" in finding.message


def test_mfa3_includes_application_none_does_not_count():
    snapshot = good_snapshot()
    _client_mfa(snapshot)["conditions"]["applications"]["includeApplications"] = ["None"]
    assert one(snapshot, "MFA-3", tenant_id=CLIENT_ID).status == "fail"


def test_mfa3_warning_still_reads_as_conditional_access_enforcement_with_its_exceptions():
    from investigate.mfa import CONDITIONAL_ACCESS, enforcement

    snapshot = good_snapshot()
    _client_mfa(snapshot)["conditions"]["users"]["excludeUsers"] = [CLIENT_ADMIN_ID]
    finding = one(snapshot, "MFA-3", tenant_id=CLIENT_ID)
    assert enforcement(finding) == (
        CONDITIONAL_ACCESS,
        "'CA001: Require MFA for all users' except user admin@tailspintoys.com",
    )
