"""PRE-1..3 and LOC-1..2: licence, security defaults, break-glass accounts, the trusted location."""

from __future__ import annotations

from posture_fixtures import (
    BG_UPN,
    EA_UPN,
    MSP_ID,
    TRUSTED_ID,
    good_snapshot,
    ip_location,
    msp,
    one,
    premium_sku,
    run,
    user,
)


def test_pre1_passes_with_enabled_premium_plan():
    finding = one(good_snapshot(), "PRE-1")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "tenant", MSP_ID)


def test_pre1_passes_with_p2_matched_case_insensitively():
    snapshot = good_snapshot()
    msp(snapshot)["subscribedSkus"] = [
        premium_sku(capability="enabled", provisioning="success", plan="aad_premium_p2")
    ]
    assert one(snapshot, "PRE-1").status == "pass"


def test_pre1_fails_when_the_premium_sku_is_suspended_and_says_so():
    snapshot = good_snapshot()
    msp(snapshot)["subscribedSkus"] = [premium_sku(capability="Suspended")]
    finding = one(snapshot, "PRE-1")
    assert finding.status == "fail"
    assert "AAD_PREMIUM in 'SPB' (SKU Suspended, plan Success)" in finding.message
    assert finding.fix is None


def test_pre1_fails_without_any_premium_plan():
    snapshot = good_snapshot()
    sku = premium_sku()
    sku["servicePlans"] = sku["servicePlans"][:1]
    msp(snapshot)["subscribedSkus"] = [sku]
    assert one(snapshot, "PRE-1").status == "fail"


def test_pre1_is_na_without_subscribed_skus():
    snapshot = good_snapshot()
    del msp(snapshot)["subscribedSkus"]
    finding = one(snapshot, "PRE-1")
    assert finding.status == "n/a" and "not collected" in finding.message


def test_pre1_is_na_without_the_msp_tenant():
    snapshot = good_snapshot()
    snapshot["tenants"] = snapshot["tenants"][1:]
    finding = one(snapshot, "PRE-1")
    assert (finding.status, finding.tenant_id) == ("n/a", MSP_ID)


def test_pre2_passes_when_security_defaults_are_off():
    assert one(good_snapshot(), "PRE-2").status == "pass"


def test_pre2_fails_when_security_defaults_are_on():
    snapshot = good_snapshot()
    msp(snapshot)["securityDefaults"]["isEnabled"] = True
    assert one(snapshot, "PRE-2").status == "fail"


def test_pre2_is_na_for_an_empty_security_defaults_object():
    snapshot = good_snapshot()
    msp(snapshot)["securityDefaults"] = {}
    assert one(snapshot, "PRE-2").status == "n/a"


def test_pre3_passes_with_a_configured_enabled_account():
    finding = one(good_snapshot(), "PRE-3")
    assert finding.status == "pass" and BG_UPN in finding.message


def test_pre3_detects_break_glass_by_name_when_none_configured():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = []
    finding = one(snapshot, "PRE-3")
    assert finding.status == "pass"
    assert {a["userPrincipalName"] for a in finding.evidence["accounts"]} == {BG_UPN, EA_UPN}
    assert finding.evidence["source"] == "name pattern"


def test_pre3_detects_break_glass_by_display_name():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = []
    msp(snapshot)["users"] = [user("x1", "ops1@msp.example", "Break-Glass Account 1")]
    assert one(snapshot, "PRE-3").status == "pass"


def test_pre3_fails_when_every_break_glass_account_is_disabled():
    snapshot = good_snapshot()
    for account in msp(snapshot)["users"]:
        if account["userPrincipalName"] in (BG_UPN, EA_UPN):
            account["accountEnabled"] = False
    finding = one(snapshot, "PRE-3")
    assert finding.status == "fail" and "disabled" in finding.message


def test_pre3_fails_when_the_configured_account_does_not_exist():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = ["nobody@msp.example"]
    finding = one(snapshot, "PRE-3")
    assert finding.status == "fail" and "nobody@msp.example" in finding.message


def test_pre3_fails_when_no_name_matches_the_pattern():
    snapshot = good_snapshot()
    snapshot["msp"]["breakGlassUpns"] = []
    msp(snapshot)["users"] = [user("x1", "alex@msp.example")]
    assert one(snapshot, "PRE-3").status == "fail"


def test_pre3_is_na_without_users():
    snapshot = good_snapshot()
    del msp(snapshot)["users"]
    assert one(snapshot, "PRE-3").status == "n/a"


def test_loc1_passes_with_a_trusted_ip_location_with_ranges():
    finding = one(good_snapshot(), "LOC-1")
    assert finding.status == "pass" and "Trusted - MSP Office" in finding.message


def test_loc1_fails_when_the_location_is_not_marked_trusted_and_offers_the_fix():
    snapshot = good_snapshot()
    msp(snapshot)["namedLocations"][0]["isTrusted"] = False
    finding = one(snapshot, "LOC-1")
    assert finding.status == "fail"
    assert "'Trusted - MSP Office' has ranges but is not marked trusted" in finding.message
    assert finding.fix == "trusted-location.add-range"


def test_loc1_fails_when_the_trusted_location_has_no_range():
    snapshot = good_snapshot()
    msp(snapshot)["namedLocations"][0]["ipRanges"] = []
    finding = one(snapshot, "LOC-1")
    assert finding.status == "fail" and "is trusted but has no IP range" in finding.message


def test_loc1_with_trusted_location_names_counts_only_those():
    snapshot = good_snapshot()
    snapshot["msp"]["trustedLocationNames"] = ["HQ egress"]
    finding = one(snapshot, "LOC-1")
    assert finding.status == "fail"
    assert "names 'hq egress' but no IP named location has that name" in finding.message


def test_loc1_trusted_location_names_match_case_insensitively():
    snapshot = good_snapshot()
    snapshot["msp"]["trustedLocationNames"] = ["trusted - msp office"]
    assert one(snapshot, "LOC-1").status == "pass"


def test_loc1_is_na_without_named_locations():
    snapshot = good_snapshot()
    del msp(snapshot)["namedLocations"]
    assert one(snapshot, "LOC-1").status == "n/a"


def _with_trusted_ranges(*ranges: str) -> dict:
    snapshot = good_snapshot()
    msp(snapshot)["namedLocations"][0] = ip_location(TRUSTED_ID, "Trusted - MSP Office", list(ranges))
    return snapshot


def test_loc2_passes_for_narrow_public_ranges_one_finding_per_range():
    findings = run(good_snapshot(), "LOC-2")
    assert [(f.status, f.subject.type, f.subject.id) for f in findings] == [
        ("pass", "range", "66.171.40.16/29"),
        ("pass", "range", "2600:1700:5d30:1f0::/64"),
    ]


def test_loc2_fails_for_the_whole_ipv4_internet():
    assert one(_with_trusted_ranges("0.0.0.0/0"), "LOC-2").status == "fail"


def test_loc2_fails_for_the_whole_ipv6_internet():
    assert one(_with_trusted_ranges("::/0"), "LOC-2").status == "fail"


def test_loc2_fails_for_an_invalid_cidr():
    finding = one(_with_trusted_ranges("66.171.40.300/29"), "LOC-2")
    assert finding.status == "fail" and "not a valid CIDR" in finding.message


def test_loc2_warns_broader_than_16():
    finding = one(_with_trusted_ranges("20.0.0.0/8"), "LOC-2")
    assert finding.status == "warn" and "broader than /16" in finding.message


def test_loc2_warns_broader_than_48_for_ipv6():
    assert one(_with_trusted_ranges("2600:1700::/32"), "LOC-2").status == "warn"


def test_loc2_warns_for_private_ranges_with_the_ipaddress_flag():
    finding = one(_with_trusted_ranges("192.168.1.0/24"), "LOC-2")
    assert finding.status == "warn" and finding.evidence["flags"] == ["is_private"]


def test_loc2_subject_id_is_the_range_exactly_as_written():
    finding = one(_with_trusted_ranges("66.171.40.17/29"), "LOC-2")
    assert finding.subject.id == "66.171.40.17/29"


def test_loc2_ignores_untrusted_locations():
    assert all(f.subject.id != "52.174.22.0/28" for f in run(good_snapshot(), "LOC-2"))


def test_loc2_is_na_without_a_trusted_location():
    snapshot = good_snapshot()
    msp(snapshot)["namedLocations"][0]["isTrusted"] = False
    assert one(snapshot, "LOC-2").status == "n/a"


def test_loc2_fails_for_ranges_that_together_cover_every_ipv4_address():
    findings = run(_with_trusted_ranges("0.0.0.0/1", "128.0.0.0/1", "2600:1700:5d30:1f0::/64"), "LOC-2")
    by_range = {f.subject.id: f for f in findings}
    assert [by_range[r].status for r in ("0.0.0.0/1", "128.0.0.0/1")] == ["fail", "fail"]
    assert "together, 0.0.0.0/1, 128.0.0.0/1 cover every IPv4 address" in by_range["0.0.0.0/1"].message
    assert by_range["128.0.0.0/1"].evidence["union"] == [
        "0.0.0.0/1",
        "128.0.0.0/1",
        "2600:1700:5d30:1f0::/64",
    ]
    assert by_range["2600:1700:5d30:1f0::/64"].status == "pass"  # IPv6 is not covered entirely


def test_loc2_fails_for_the_whole_ipv4_mapped_block_as_every_ipv4_address():
    finding = one(_with_trusted_ranges("::ffff:0:0/96"), "LOC-2")
    assert finding.status == "fail" and "every IPv4 address" in finding.message


def test_loc2_judges_an_ipv4_mapped_range_as_its_ipv4_range():
    finding = one(_with_trusted_ranges("::ffff:20.0.0.0/104"), "LOC-2")
    assert finding.status == "warn" and "broader than /16" in finding.message
    assert finding.evidence["network"] == "20.0.0.0/8"


def test_loc2_flags_an_ipv4_mapped_private_range_as_private():
    finding = one(_with_trusted_ranges("::ffff:192.168.1.0/120"), "LOC-2")
    assert finding.status == "warn" and finding.evidence["flags"] == ["is_private"]
    assert finding.evidence["network"] == "192.168.1.0/24"
