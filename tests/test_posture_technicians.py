"""A-1..3: the technician block policy, its break-glass exclusions and its state."""

from __future__ import annotations

from posture_fixtures import (
    BG_GROUP_ID,
    BG_ID,
    BG_UPN,
    CIPP_APP_ID,
    EA_ID,
    EA_UPN,
    GLOBAL_ADMIN,
    MSP_ID,
    SA_ID,
    TECH_POLICY_ID,
    TECHS_GROUP_ID,
    TRUSTED_ID,
    VPN_ID,
    find_policy,
    good_snapshot,
    msp,
    one,
    policy,
    run,
)


def _technician_policy(snapshot: dict) -> dict:
    return find_policy(msp(snapshot), TECH_POLICY_ID)


def test_a1_passes_with_a_block_policy_excluding_the_trusted_location():
    finding = one(good_snapshot(), "A-1")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "tenant", MSP_ID)
    assert finding.evidence["policies"][0]["id"] == TECH_POLICY_ID


def test_a1_accepts_alltrusted_as_the_exclusion():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["locations"]["excludeLocations"] = ["AllTrusted"]
    assert one(snapshot, "A-1").status == "pass"


def test_a1_counts_a_policy_in_any_state():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["state"] = "disabled"
    assert one(snapshot, "A-1").status == "pass"


def test_a1_accepts_a_policy_on_the_cipp_app_when_its_id_is_known():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["applications"]["includeApplications"] = [CIPP_APP_ID.upper()]
    assert one(snapshot, "A-1", cipp_app_ids=(CIPP_APP_ID,)).status == "pass"


def test_a1_explains_a_cipp_only_policy_when_the_app_id_is_unknown():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["applications"]["includeApplications"] = [CIPP_APP_ID]
    finding = one(snapshot, "A-1")
    assert finding.status == "fail"
    assert "the CIPP app id is not configured" in finding.message


def test_a1_fails_when_the_excluded_location_is_not_trusted_and_names_it():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["locations"]["excludeLocations"] = [VPN_ID]
    finding = one(snapshot, "A-1")
    assert finding.status == "fail"
    assert (
        "'CIPP - Block technicians outside trusted location' would satisfy A-1 but it excludes "
        "'Partner VPN', which is not the trusted location"
    ) in finding.message
    assert finding.fix == "technician-policy.create"
    assert finding.evidence["nearMisses"][0]["id"] == TECH_POLICY_ID


def test_a1_fails_for_mfa_instead_of_block():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["grantControls"]["builtInControls"] = ["mfa"]
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "its grant is mfa, not block" in finding.message


def test_a1_fails_without_a_location_condition():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["locations"] = None
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "it has no location condition" in finding.message


def test_a1_fails_for_a_policy_that_includes_no_users():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["users"] = {"includeUsers": ["None"], "excludeUsers": []}
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "it includes no users" in finding.message


def test_a1_fails_without_any_policy():
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"] = []
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and finding.evidence["nearMisses"] == []


def test_a1_is_na_without_policies():
    snapshot = good_snapshot()
    del msp(snapshot)["conditionalAccessPolicies"]
    assert one(snapshot, "A-1").status == "n/a"


def test_a1_is_na_when_the_excluded_location_cannot_be_checked():
    snapshot = good_snapshot()
    del msp(snapshot)["namedLocations"]
    finding = one(snapshot, "A-1")
    assert finding.status == "n/a" and "named locations were not collected" in finding.message


def test_a2_passes_with_break_glass_excluded_directly_and_through_a_nested_group():
    finding = one(good_snapshot(), "A-2")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "policy", TECH_POLICY_ID)
    routes = {a["userPrincipalName"]: a["excluded"] for a in finding.evidence["breakGlass"]}
    assert routes == {
        BG_UPN: "directly",
        EA_UPN: "through group 'CA Exclusions - Break Glass' → 'Emergency Access Accounts'",
    }


def test_a2_passes_with_break_glass_excluded_through_a_role():
    snapshot = good_snapshot()
    users = _technician_policy(snapshot)["conditions"]["users"]
    users.update(excludeUsers=[SA_ID], excludeGroups=[], excludeRoles=[GLOBAL_ADMIN])
    finding = one(snapshot, "A-2")
    assert finding.status == "pass"
    assert {a["excluded"] for a in finding.evidence["breakGlass"]} == {"through role Global Administrator"}


def test_a2_fails_when_the_excluded_role_is_not_one_a_break_glass_account_holds():
    snapshot = good_snapshot()
    users = _technician_policy(snapshot)["conditions"]["users"]
    user_admin = "fe930be7-5e62-47db-91af-98c3a49a38b1"
    users.update(excludeUsers=[SA_ID], excludeGroups=[], excludeRoles=[user_admin])
    assert one(snapshot, "A-2").status == "fail"


def test_a2_fails_when_a_break_glass_account_is_not_excluded_and_names_it():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["users"]["excludeUsers"] = [SA_ID]
    finding = one(snapshot, "A-2")
    assert finding.status == "fail"
    assert finding.message.startswith(
        f"'CIPP - Block technicians outside trusted location' satisfies A-1 but does not exclude {BG_UPN}"
    )
    assert EA_UPN not in finding.message
    assert finding.fix is None


def test_a2_fails_even_when_the_policy_targets_only_a_technicians_group():
    snapshot = good_snapshot()
    users = _technician_policy(snapshot)["conditions"]["users"]
    users.update(includeUsers=[], includeGroups=[TECHS_GROUP_ID], excludeUsers=[EA_ID], excludeGroups=[])
    finding = one(snapshot, "A-2")
    assert finding.status == "fail" and BG_UPN in finding.message


def test_a2_with_name_detection_finds_accounts_not_configured():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = []
    _technician_policy(snapshot)["conditions"]["users"]["excludeGroups"] = []
    finding = one(snapshot, "A-2")
    assert finding.status == "fail" and EA_UPN in finding.message


def test_a2_one_finding_per_technician_policy():
    snapshot = good_snapshot()
    second = policy(
        "22222222-0000-4000-8000-000000000009",
        "Block CIPP outside trusted IPs",
        "disabled",
        users={"includeUsers": ["All"], "excludeUsers": [EA_ID]},
        locations=(["All"], [TRUSTED_ID]),
        grant=["block"],
    )
    msp(snapshot)["conditionalAccessPolicies"].append(second)
    statuses = {f.subject.name: f.status for f in run(snapshot, "A-2")}
    assert statuses == {
        "CIPP - Block technicians outside trusted location": "pass",
        "Block CIPP outside trusted IPs": "fail",
    }


def test_a2_is_na_when_group_membership_is_unknown():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["users"]["excludeUsers"] = [BG_ID]
    del msp(snapshot)["groups"]
    finding = one(snapshot, "A-2")
    assert finding.status == "n/a" and EA_UPN in finding.message


def test_a2_is_na_when_no_break_glass_account_is_known():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = ["missing@msp.example"]
    finding = one(snapshot, "A-2")
    assert finding.status == "n/a" and "PRE-3" in finding.message


def test_a2_and_a3_are_na_without_a_technician_policy():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["grantControls"]["builtInControls"] = ["mfa"]
    for check_id in ("A-2", "A-3"):
        finding = one(snapshot, check_id)
        assert (finding.status, finding.subject.type) == ("n/a", "tenant"), check_id


def test_a3_passes_when_enabled():
    assert one(good_snapshot(), "A-3").status == "pass"


def test_a3_warns_when_report_only_and_offers_the_fix():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["state"] = "enabledForReportingButNotEnforced"
    finding = one(snapshot, "A-3")
    assert (finding.status, finding.fix) == ("warn", "technician-policy.enable")
    assert "validate it in the sign-in logs" in finding.message


def test_a3_fails_when_disabled():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["state"] = "disabled"
    assert one(snapshot, "A-3").status == "fail"


def test_a3_compares_the_state_case_insensitively():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["state"] = "Enabled"
    assert one(snapshot, "A-3").status == "pass"


def test_a2_is_na_when_the_exclusion_group_was_collected_without_members():
    snapshot = good_snapshot()
    for group_doc in msp(snapshot)["groups"]:
        if group_doc["id"] == BG_GROUP_ID:
            del group_doc["members"]
    # bg-admin is excluded directly; emergency-access only through the group whose members are unknown.
    assert one(snapshot, "A-2").status == "n/a"


def test_a1_fails_when_the_policy_excludes_no_location():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["locations"]["excludeLocations"] = []
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "it excludes no location" in finding.message


def test_a1_fails_when_the_policy_excludes_the_cipp_app():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["applications"]["excludeApplications"] = [CIPP_APP_ID]
    finding = one(snapshot, "A-1", cipp_app_ids=(CIPP_APP_ID,))
    assert finding.status == "fail" and "it excludes the CIPP app" in finding.message


# --- catalogue v2: A-5 full coverage --------------------------------------------------------------


def test_a5_passes_for_a_block_policy_covering_every_sign_in():
    finding = one(good_snapshot(), "A-5")
    assert (finding.status, finding.subject.id, finding.fix) == ("pass", TECH_POLICY_ID, None)
    assert finding.evidence["narrowings"] == [] and finding.evidence["read"]["clientAppTypes"] == ["all"]


def test_a5_passes_for_all_four_client_app_types_and_the_cipp_app():
    snapshot = good_snapshot()
    conditions = _technician_policy(snapshot)["conditions"]
    conditions["clientAppTypes"] = ["browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"]
    conditions["applications"]["includeApplications"] = [CIPP_APP_ID]
    assert one(snapshot, "A-5", cipp_app_ids=(CIPP_APP_ID,)).status == "pass"


def test_a5_fails_for_a_block_policy_narrowed_by_client_app_and_platform():
    snapshot = good_snapshot()
    conditions = _technician_policy(snapshot)["conditions"]
    conditions["clientAppTypes"] = ["browser"]
    conditions["platforms"] = {"includePlatforms": ["windows", "macOS"], "excludePlatforms": []}
    finding = one(snapshot, "A-5")
    assert finding.status == "fail" and finding.severity == "high"
    assert finding.evidence["narrowings"] == ["client apps only browser", "platforms only windows, macOS"]
    assert "client apps only browser" in finding.message


def test_a5_fails_for_a_risk_condition_and_a_device_filter():
    snapshot = good_snapshot()
    conditions = _technician_policy(snapshot)["conditions"]
    conditions["signInRiskLevels"] = ["high", "medium"]
    conditions["devices"] = {"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}}
    finding = one(snapshot, "A-5")
    assert finding.status == "fail"
    assert finding.evidence["narrowings"] == [
        "signInRiskLevels high, medium",
        "device filter 'device.isCompliant -eq True'",
    ]


def test_a5_is_na_without_a_technician_policy():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["grantControls"]["builtInControls"] = ["mfa"]
    finding = one(snapshot, "A-5")
    assert finding.status == "n/a" and "A-1" in finding.message


def test_a3_a_state_outside_graphs_set_is_not_enforced_and_named_as_written():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["state"] = "reportOnly"
    finding = one(snapshot, "A-3")
    assert finding.status == "fail" and "in state 'reportOnly'" in finding.message


# --- catalogue v2: A-4 the block policy spares the CIPP service account ----------------------------


def test_a4_passes_when_the_block_policy_excludes_the_service_account():
    finding = one(good_snapshot(), "A-4")
    assert (finding.status, finding.severity, finding.subject.id) == ("pass", "critical", TECH_POLICY_ID)
    assert finding.evidence["excluded"] == "excluded directly"


def test_a4_passes_when_the_service_account_is_excluded_through_a_group():
    snapshot = good_snapshot()
    users = _technician_policy(snapshot)["conditions"]["users"]
    users["excludeUsers"] = [BG_ID]
    msp(snapshot)["groups"][1]["members"].append({"@odata.type": "#microsoft.graph.user", "id": SA_ID})
    finding = one(snapshot, "A-4")
    assert finding.status == "pass"
    assert "excluded through group 'CA Exclusions - Break Glass'" in finding.message


def test_a4_fails_when_the_block_policy_reaches_the_service_account():
    snapshot = good_snapshot()
    _technician_policy(snapshot)["conditions"]["users"]["excludeUsers"] = [BG_ID]
    finding = one(snapshot, "A-4")
    assert finding.status == "fail" and "included through 'All'" in finding.message
    assert finding.fix is None


def test_a4_is_na_when_the_service_account_is_unknown():
    snapshot = good_snapshot()
    snapshot["msp"]["serviceAccountUpn"] = ""
    assert one(snapshot, "A-4").status == "n/a"


# --- catalogue v2: A-1 "the CIPP app" is msp.cippAppIds, never a CIPP-API client ------------------


def test_a1_accepts_a_block_policy_on_the_cipp_app_from_msp_cipp_app_ids():
    snapshot = good_snapshot()
    snapshot["msp"]["cippAppIds"] = [CIPP_APP_ID]
    _technician_policy(snapshot)["conditions"]["applications"]["includeApplications"] = [CIPP_APP_ID]
    assert one(snapshot, "A-1").status == "pass"


def test_a1_rejects_a_block_policy_on_a_cipp_api_client_even_when_configured_as_the_app():
    snapshot = good_snapshot()
    api_client = snapshot["cipp"]["apiClients"][0]["ClientId"]
    snapshot["msp"]["cippAppIds"] = [api_client]
    _technician_policy(snapshot)["conditions"]["applications"]["includeApplications"] = [api_client]
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "CIPP-API client id" in finding.message


def test_a1_rejects_a_policy_excluding_the_cipp_app_from_msp_cipp_app_ids():
    snapshot = good_snapshot()
    snapshot["msp"]["cippAppIds"] = [CIPP_APP_ID]
    _technician_policy(snapshot)["conditions"]["applications"]["excludeApplications"] = [CIPP_APP_ID]
    finding = one(snapshot, "A-1")
    assert finding.status == "fail" and "excludes the CIPP app" in finding.message
