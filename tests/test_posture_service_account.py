"""B-1..8: the CIPP service account and its dedicated policy."""

from __future__ import annotations

from posture_fixtures import (
    ADMIN_AGENTS_ID,
    GLOBAL_ADMIN,
    MSP_ID,
    SA_ID,
    SA_POLICY_ID,
    SA_UPN,
    TECHS_GROUP_ID,
    TRUSTED_ID,
    directory_role,
    find_policy,
    good_snapshot,
    group,
    member_group,
    member_user,
    msp,
    one,
    run,
    signin,
)

B_POLICY_CHECKS = ("B-2", "B-3", "B-4", "B-5", "B-6")


def _sa_policy(snapshot: dict) -> dict:
    return find_policy(msp(snapshot), SA_POLICY_ID)


def test_b1_passes_for_a_policy_including_only_the_service_account():
    finding = one(good_snapshot(), "B-1")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "policy", SA_POLICY_ID)


def test_b1_matches_the_upn_and_id_case_insensitively():
    snapshot = good_snapshot()
    snapshot["msp"]["serviceAccountUpn"] = SA_UPN.upper()
    _sa_policy(snapshot)["conditions"]["users"]["includeUsers"] = [SA_ID.upper()]
    assert one(snapshot, "B-1").status == "pass"


def test_b1_warns_when_the_policy_also_includes_a_group():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["users"]["includeGroups"] = [TECHS_GROUP_ID]
    finding = one(snapshot, "B-1")
    assert finding.status == "warn"
    assert "but also group 'CIPP Technicians'" in finding.message
    assert finding.fix is None  # creating another policy would not narrow this one


def test_b1_warns_when_the_policy_also_includes_all_users():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["users"]["includeUsers"] = [SA_ID, "All"]
    assert one(snapshot, "B-1").status == "warn"


def test_b1_fails_when_the_account_is_reached_only_through_all():
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"].remove(_sa_policy(snapshot))
    finding = one(snapshot, "B-1")
    assert (finding.status, finding.subject.type) == ("fail", "tenant")
    assert "'Require MFA for all users' excludes it" in finding.message


def test_b1_is_na_without_a_configured_service_account():
    snapshot = good_snapshot()
    snapshot["msp"]["serviceAccountUpn"] = ""
    finding = one(snapshot, "B-1")
    assert finding.status == "n/a" and "msp.serviceAccountUpn" in finding.message


def test_b1_is_na_when_the_service_account_is_not_among_the_users():
    snapshot = good_snapshot()
    snapshot["msp"]["serviceAccountUpn"] = "ghost@msp.example"
    assert one(snapshot, "B-1").status == "n/a"


def test_b2_to_b6_are_na_without_a_service_account_policy():
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"].remove(_sa_policy(snapshot))
    for check_id in B_POLICY_CHECKS:
        finding = one(snapshot, check_id)
        assert (finding.status, finding.subject.type, "B-1" in finding.message) == ("n/a", "tenant", True)


def test_b2_passes_with_mfa_matched_case_insensitively():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"]["builtInControls"] = ["MFA"]
    assert one(snapshot, "B-2").status == "pass"


def test_b2_passes_with_an_authentication_strength_instead_of_mfa():
    snapshot = good_snapshot()
    grant = _sa_policy(snapshot)["grantControls"]
    grant["builtInControls"] = []
    grant["authenticationStrength"] = {
        "id": "00000000-0000-0000-0000-000000000004",
        "displayName": "Phishing-resistant MFA",
    }
    finding = one(snapshot, "B-2")
    assert finding.status == "pass" and finding.evidence["authenticationStrength"] == "Phishing-resistant MFA"


def test_b2_fails_for_compliant_device_only():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"]["builtInControls"] = ["compliantDevice"]
    finding = one(snapshot, "B-2")
    assert (finding.status, finding.fix) == ("fail", "service-account-policy.require-mfa")
    assert "compliantDevice, not MFA" in finding.message


def test_b3_passes_for_every_time():
    assert one(good_snapshot(), "B-3").status == "pass"


def test_b3_fails_for_a_time_based_frequency_and_says_which():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["sessionControls"]["signInFrequency"] = {
        "isEnabled": True,
        "frequencyInterval": "timeBased",
        "type": "hours",
        "value": 12,
    }
    finding = one(snapshot, "B-3")
    assert (finding.status, finding.fix) == ("fail", "service-account-policy.sign-in-every-time")
    assert "every 12 hours" in finding.message


def test_b3_fails_without_session_controls():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["sessionControls"] = None
    assert one(snapshot, "B-3").status == "fail"


def test_b3_fails_when_every_time_is_switched_off():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["sessionControls"]["signInFrequency"]["isEnabled"] = False
    assert one(snapshot, "B-3").status == "fail"


def test_b4_passes_with_conditions_locations_null():
    finding = one(good_snapshot(), "B-4")
    assert finding.status == "pass" and "no location condition" in finding.message


def test_b4_passes_with_empty_location_lists():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["locations"] = {"includeLocations": [], "excludeLocations": []}
    assert one(snapshot, "B-4").status == "pass"


def test_b4_passes_for_include_all_without_exclusion():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["locations"] = {"includeLocations": ["All"], "excludeLocations": []}
    assert one(snapshot, "B-4").status == "pass"


def test_b4_fails_for_an_excluded_trusted_location_and_names_it():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": [TRUSTED_ID],
    }
    finding = one(snapshot, "B-4")
    assert finding.status == "fail"
    assert (
        "the service-account policy 'CIPP - Service account MFA every time' excludes location "
        "'Trusted - MSP Office': remove it" in finding.message
    )
    assert finding.fix == "service-account-policy.remove-locations"


def test_b4_fails_for_alltrusted():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": ["AllTrusted"],
    }
    finding = one(snapshot, "B-4")
    assert finding.status == "fail"
    assert "excludes location AllTrusted (every trusted location): remove it" in finding.message


def test_b5_passes_when_enabled():
    assert one(good_snapshot(), "B-5").status == "pass"


def test_b5_fails_when_report_only():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["state"] = "enabledForReportingButNotEnforced"
    finding = one(snapshot, "B-5")
    assert (finding.status, finding.fix) == ("fail", "service-account-policy.enable")
    assert "report-only does not enforce MFA" in finding.message


def test_b6_passes_with_all_cloud_apps():
    assert one(good_snapshot(), "B-6").status == "pass"


def test_b6_fails_for_selected_apps_without_a_fix():
    snapshot = good_snapshot()
    applications = _sa_policy(snapshot)["conditions"]["applications"]
    applications["includeApplications"] = ["797f4846-ba00-4fd7-ba43-dac1f8f63013"]
    finding = one(snapshot, "B-6")
    assert (finding.status, finding.fix) == ("fail", None)


def test_b_checks_judge_each_policy_that_includes_the_account():
    snapshot = good_snapshot()
    legacy = dict(
        _sa_policy(snapshot),
        id="legacy",
        displayName="CIPP service account (legacy)",
        state="enabledForReportingButNotEnforced",
    )
    msp(snapshot)["conditionalAccessPolicies"].append(legacy)
    assert {f.subject.id: f.status for f in run(snapshot, "B-5")} == {SA_POLICY_ID: "pass", "legacy": "fail"}


def test_b7_passes_in_admin_agents_without_global_admin():
    finding = one(good_snapshot(), "B-7")
    assert (finding.status, finding.subject.id) == ("pass", MSP_ID)


def test_b7_warns_while_the_account_holds_global_administrator():
    snapshot = good_snapshot()
    msp(snapshot)["directoryRoles"].append(directory_role(GLOBAL_ADMIN, "Global Administrator", [SA_ID]))
    finding = one(snapshot, "B-7")
    assert finding.status == "warn" and "Global Administrator" in finding.message


def test_b7_fails_when_not_in_admin_agents():
    snapshot = good_snapshot()
    msp(snapshot)["groups"][0]["members"] = []
    assert one(snapshot, "B-7").status == "fail"


def test_b7_fails_for_nested_membership_only_and_explains_why():
    snapshot = good_snapshot()
    msp(snapshot)["groups"][0]["members"] = [member_group("nested")]
    msp(snapshot)["groups"].append(group("nested", "CIPP Service Accounts", [member_user(SA_ID)]))
    finding = one(snapshot, "B-7")
    assert finding.status == "fail" and "only a nested member" in finding.message


def test_b7_is_na_without_groups():
    snapshot = good_snapshot()
    del msp(snapshot)["groups"]
    assert one(snapshot, "B-7").status == "n/a"


def test_b7_is_na_in_admin_agents_but_without_directory_roles():
    snapshot = good_snapshot()
    del msp(snapshot)["directoryRoles"]
    assert one(snapshot, "B-7").status == "n/a"
    assert msp(snapshot)["groups"][0]["id"] == ADMIN_AGENTS_ID


def test_b8_passes_when_every_successful_sign_in_satisfied_mfa():
    assert one(good_snapshot(), "B-8").status == "pass"


def test_b8_fails_for_a_single_factor_sign_in_and_lists_it():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"].append(signin("s-sfa", SA_ID, SA_UPN, requirement="singleFactorAuthentication"))
    finding = one(snapshot, "B-8")
    assert finding.status == "fail"
    assert [s["id"] for s in finding.evidence["singleFactor"]] == ["s-sfa"]


def test_b8_treats_status_without_error_code_as_success():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"].append(
        signin("s-sfa", SA_ID, SA_UPN, error=None, requirement="singleFactorAuthentication")
    )
    assert one(snapshot, "B-8").status == "fail"


def test_b8_ignores_failed_sign_ins():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"].append(
        signin("s-bad", SA_ID, SA_UPN, error=50126, requirement="singleFactorAuthentication")
    )
    assert one(snapshot, "B-8").status == "pass"


def test_b8_ignores_sign_ins_outside_the_window():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"].append(
        signin("s-old", SA_ID, SA_UPN, at="2026-11-20T10:00:00Z", requirement="singleFactorAuthentication")
    )
    assert one(snapshot, "B-8").status == "pass"
    assert one(snapshot, "B-8", signin_window_hours=72).status == "fail"


def test_b8_is_na_without_sign_ins_of_the_account_in_the_window():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"] = []
    assert one(snapshot, "B-8").status == "n/a"


def test_b8_is_na_when_sign_ins_were_not_collected():
    snapshot = good_snapshot()
    del msp(snapshot)["signIns"]
    assert one(snapshot, "B-8").status == "n/a"


def test_b8_compares_the_authentication_requirement_case_insensitively():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"] = [signin("s-1", SA_ID, SA_UPN, requirement="MultiFactorAuthentication")]
    assert one(snapshot, "B-8").status == "pass"


def test_b8_is_na_when_sign_ins_carry_no_authentication_requirement():
    snapshot = good_snapshot()
    msp(snapshot)["signIns"] = [signin("s-1", SA_ID, SA_UPN, requirement="")]
    assert one(snapshot, "B-8").status == "n/a"


# --- catalogue v2 ---------------------------------------------------------------------------------


def test_b1_fails_when_the_policy_also_excludes_the_service_account_through_a_group():
    snapshot = good_snapshot()
    msp(snapshot)["groups"].append(
        group("00000000-0000-4000-9000-0000000000aa", "CIPP exclusions", [member_user(SA_ID)])
    )
    _sa_policy(snapshot)["conditions"]["users"]["excludeGroups"] = ["00000000-0000-4000-9000-0000000000aa"]
    finding = one(snapshot, "B-1")
    assert finding.status == "fail"
    assert finding.evidence["excluded"] == "excluded through group 'CIPP exclusions'"
    assert "exclusion wins" in finding.message and finding.fix is None


def test_b1_fails_when_the_policy_also_excludes_the_service_account_through_a_role():
    snapshot = good_snapshot()
    msp(snapshot)["directoryRoles"][0]["members"].append(member_user(SA_ID))
    _sa_policy(snapshot)["conditions"]["users"]["excludeRoles"] = [GLOBAL_ADMIN]
    finding = one(snapshot, "B-1")
    assert finding.status == "fail" and "excluded through role Global Administrator" in finding.message


def test_b2_fails_for_mfa_or_compliant_device():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"].update(operator="OR", builtInControls=["mfa", "compliantDevice"])
    finding = one(snapshot, "B-2")
    assert finding.status == "fail" and "operator OR lets compliantDevice stand in for mfa" in finding.message


def test_b2_passes_for_mfa_and_compliant_device():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"].update(operator="AND", builtInControls=["mfa", "compliantDevice"])
    finding = one(snapshot, "B-2")
    assert finding.status == "pass" and finding.evidence["operator"] == "AND"


def test_b2_fails_for_a_custom_control_and_a_non_mfa_strength():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"].update(builtInControls=[], customAuthenticationFactors=["Duo"])
    assert one(snapshot, "B-2").status == "fail"
    _sa_policy(snapshot)["grantControls"].update(
        customAuthenticationFactors=[],
        authenticationStrength={
            "id": "ab12",
            "displayName": "Password only",
            "requirementsSatisfied": "none",
        },
    )
    assert one(snapshot, "B-2").status == "fail"


def test_b6_fails_for_a_policy_narrowed_by_client_app_and_names_it():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["conditions"]["clientAppTypes"] = ["browser", "mobileAppsAndDesktopClients"]
    finding = one(snapshot, "B-6")
    assert finding.status == "fail"
    assert finding.evidence["narrowings"] == ["client apps only browser, mobileAppsAndDesktopClients"]


def test_b6_fails_for_an_excluded_application_and_a_device_filter():
    snapshot = good_snapshot()
    conditions = _sa_policy(snapshot)["conditions"]
    conditions["applications"]["excludeApplications"] = ["797f4846-ba00-4fd7-ba43-dac1f8f63013"]
    conditions["devices"] = {"deviceFilter": {"mode": "exclude", "rule": 'device.trustType -eq "AzureAD"'}}
    finding = one(snapshot, "B-6")
    assert finding.status == "fail" and len(finding.evidence["narrowings"]) == 2


# --- catalogue v2: B-9 Microsoft MFA --------------------------------------------------------------


def _sa_registration(snapshot: dict) -> dict:
    return next(r for r in msp(snapshot)["userRegistrationDetails"] if r["id"] == SA_ID)


def test_b9_passes_with_registered_microsoft_mfa():
    finding = one(good_snapshot(), "B-9")
    assert (finding.status, finding.severity) == ("pass", "high")
    assert finding.evidence["methodsRegistered"] == ["microsoftAuthenticatorPush"]


def test_b9_fails_without_a_registered_method():
    snapshot = good_snapshot()
    _sa_registration(snapshot).update(methodsRegistered=[])
    finding = one(snapshot, "B-9")
    assert finding.status == "fail" and "no authentication method is registered" in finding.message


def test_b9_fails_when_not_mfa_registered():
    snapshot = good_snapshot()
    _sa_registration(snapshot).update(isMfaRegistered=False)
    assert one(snapshot, "B-9").status == "fail"


def test_b9_fails_when_a_service_account_policy_accepts_a_custom_control():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"].update(builtInControls=["mfa"], customAuthenticationFactors=["Duo"])
    finding = one(snapshot, "B-9")
    assert finding.status == "fail" and "custom control(s) Duo" in finding.message


def test_b9_allows_a_custom_control_required_on_top_of_microsoft_mfa():
    snapshot = good_snapshot()
    _sa_policy(snapshot)["grantControls"].update(
        operator="AND", builtInControls=["mfa"], customAuthenticationFactors=["Duo"]
    )
    assert one(snapshot, "B-9").status == "pass"


def test_b9_is_na_without_registration_data():
    snapshot = good_snapshot()
    del msp(snapshot)["userRegistrationDetails"]
    assert one(snapshot, "B-9").status == "n/a"
