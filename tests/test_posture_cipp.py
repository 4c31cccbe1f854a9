"""C-1..3: CIPP-API clients, their Allowed IP Ranges, and the Azure configuration."""

from __future__ import annotations

import pytest
from posture_fixtures import API_CLIENT_ID, MSP_ID, api_client, good_snapshot, one, run

OTHER_ID = "44444444-0000-4000-8000-000000000002"


def _with_client(ranges, *, enabled: bool = True) -> dict:
    snapshot = good_snapshot()
    snapshot["cipp"]["apiClients"] = [api_client(API_CLIENT_ID, "Rewst automation", ranges, enabled=enabled)]
    return snapshot


def test_c1_passes_for_an_enabled_client_with_ranges():
    finding = one(good_snapshot(), "C-1")
    assert (finding.status, finding.subject.type, finding.subject.id, finding.subject.name) == (
        "pass",
        "apiClient",
        API_CLIENT_ID,
        "Perimeter collector",
    )


def test_cipp_findings_carry_the_msp_tenant_id():
    for check_id in ("C-1", "C-2", "C-3"):
        assert {f.tenant_id for f in run(good_snapshot(), check_id)} == {MSP_ID}


def test_c1_fails_for_any_and_offers_the_fix():
    finding = one(_with_client(["Any"]), "C-1")
    assert (finding.status, finding.fix) == ("fail", "api-client.set-ranges")
    assert "from any IP" in finding.message


def test_c1_fails_for_an_empty_list_as_a_broken_client():
    finding = one(_with_client([]), "C-1")
    assert finding.status == "fail" and "denies its every call" in finding.message


def test_c1_passes_for_a_single_string_range():
    finding = one(_with_client("20.105.3.44/32"), "C-1")
    assert finding.status == "pass" and "20.105.3.44/32" in finding.message


def test_c1_fails_for_an_empty_string_stored_as_no_range():
    assert one(_with_client(""), "C-1").status == "fail"


def test_c1_is_na_for_a_disabled_client():
    finding = one(_with_client(["Any"], enabled=False), "C-1")
    assert finding.status == "n/a" and finding.fix is None


def test_c1_skips_a_stray_any_string_in_results():
    snapshot = good_snapshot()
    snapshot["cipp"]["apiClients"].append("Any")
    assert [f.subject.id for f in run(snapshot, "C-1")] == [API_CLIENT_ID]


def test_c1_is_na_when_api_clients_were_not_collected():
    snapshot = good_snapshot()
    del snapshot["cipp"]["apiClients"]
    finding = one(snapshot, "C-1")
    assert (finding.status, finding.subject.type, finding.tenant_id) == ("n/a", "tenant", MSP_ID)


@pytest.mark.parametrize(
    "value",
    [
        "203.0.113.0/24",
        "20.105.3.44",
        "20.105.3.44/32",
        "2001:4860:4801:10:0:0:0:0/64",
        "2001:4860:4801:0010:0000:0000:0000:0000/64",
    ],
)
def test_c2_passes_for_ranges_cipp_accepts(value):
    assert one(_with_client([value]), "C-2").status == "pass"


def test_c2_fails_for_ipv6_with_double_colon_and_suggests_eight_groups():
    finding = one(_with_client(["2001:4860:4801:10::/64"]), "C-2")
    assert (finding.status, finding.fix) == ("fail", "api-client.set-ranges")
    assert "write all eight groups, 2001:4860:4801:10:0:0:0:0/64" in finding.message
    assert finding.evidence["suggested"] == "2001:4860:4801:10:0:0:0:0/64"


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "0:0:0:0:0:0:0:0/0"])
def test_c2_fails_for_every_address(value):
    finding = one(_with_client([value]), "C-2")
    assert finding.status == "fail" and "open to any IP" in finding.message


@pytest.mark.parametrize("value", ["not-an-ip", "300.1.1.1/24", "2001:db8/32", " 203.0.113.0/24"])
def test_c2_fails_for_what_cipp_rejects_as_invalid(value):
    finding = one(_with_client([value]), "C-2")
    assert finding.status == "fail" and "not a valid IP address or CIDR range" in finding.message


def test_c2_warns_for_host_bits_set():
    finding = one(_with_client(["203.0.113.5/24"]), "C-2")
    assert finding.status == "warn"
    assert "host bits set: 203.0.113.5/24 means 203.0.113.0/24" in finding.message


def test_c2_warns_broader_than_16():
    finding = one(_with_client(["20.0.0.0/8"]), "C-2")
    assert finding.status == "warn" and "broader than /16" in finding.message


def test_c2_warns_broader_than_48_for_ipv6():
    assert one(_with_client(["2001:4860:0:0:0:0:0:0/32"]), "C-2").status == "warn"


def test_c2_one_finding_per_range_with_the_range_as_written():
    findings = run(_with_client(["203.0.113.0/24", "198.51.100.7/24"]), "C-2")
    assert [(f.subject.type, f.subject.id, f.status) for f in findings] == [
        ("range", "203.0.113.0/24", "pass"),
        ("range", "198.51.100.7/24", "warn"),
    ]
    assert findings[0].evidence["clientId"] == API_CLIENT_ID


def test_c2_judges_a_single_string_range():
    assert one(_with_client("20.105.3.44/32"), "C-2").subject.id == "20.105.3.44/32"


def test_c2_is_na_when_no_enabled_client_has_ranges():
    finding = one(_with_client(["Any"]), "C-2")
    assert (finding.status, finding.subject.type) == ("n/a", "tenant")


def test_c2_skips_disabled_clients():
    finding = one(_with_client(["0.0.0.0/0"], enabled=False), "C-2")
    assert finding.status == "n/a"


def test_c3_passes_once_when_all_agree():
    finding = one(good_snapshot(), "C-3")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("pass", "tenant", MSP_ID)


def test_c3_compares_client_ids_case_insensitively():
    snapshot = good_snapshot()
    snapshot["cipp"]["azureConfiguration"]["ClientIDs"] = [API_CLIENT_ID.upper()]
    assert one(snapshot, "C-3").status == "pass"


def test_c3_fails_for_an_id_azure_accepts_but_the_table_lacks():
    snapshot = good_snapshot()
    snapshot["cipp"]["azureConfiguration"]["ClientIDs"].append(OTHER_ID)
    finding = one(snapshot, "C-3")
    assert (finding.status, finding.subject.type, finding.subject.id) == ("fail", "apiClient", OTHER_ID)
    assert "no IP check" in finding.message and finding.fix == "api-config.save-to-azure"


def test_c3_fails_for_a_disabled_client_azure_still_accepts():
    snapshot = good_snapshot()
    snapshot["cipp"]["apiClients"][0]["Enabled"] = False
    finding = one(snapshot, "C-3")
    assert finding.status == "fail" and "the disable never took effect" in finding.message


def test_c3_warns_for_an_enabled_client_not_saved_to_azure():
    snapshot = good_snapshot()
    snapshot["cipp"]["apiClients"].append(api_client(OTHER_ID, "HaloPSA", ["20.105.3.44/32"]))
    finding = one(snapshot, "C-3")
    assert (finding.status, finding.subject.id, finding.subject.name) == ("warn", OTHER_ID, "HaloPSA")


def test_c3_treats_null_client_ids_as_none():
    snapshot = good_snapshot()
    snapshot["cipp"]["azureConfiguration"]["ClientIDs"] = None
    finding = one(snapshot, "C-3")
    assert (finding.status, finding.subject.id) == ("warn", API_CLIENT_ID)


def test_c3_is_na_when_cipp_reports_an_error_in_enabled():
    snapshot = good_snapshot()
    snapshot["cipp"]["azureConfiguration"] = {
        "ApiUrl": "",
        "TenantID": "",
        "ClientIDs": None,
        "Enabled": "Could not find the Function App",
        "Error": {"x": 1},
    }
    finding = one(snapshot, "C-3")
    assert finding.status == "n/a" and "Could not find the Function App" in finding.message


def test_c3_is_na_without_the_azure_configuration():
    snapshot = good_snapshot()
    del snapshot["cipp"]["azureConfiguration"]
    assert one(snapshot, "C-3").status == "n/a"


def test_c_checks_are_na_without_cipp():
    snapshot = good_snapshot()
    del snapshot["cipp"]
    assert {one(snapshot, c).status for c in ("C-1", "C-2", "C-3")} == {"n/a"}


def test_c1_and_c2_read_a_json_array_stored_as_a_string():
    snapshot = _with_client('["66.171.40.16/29","2600:1700:5d30:1f0:0:0:0:0/64"]')
    assert one(snapshot, "C-1").status == "pass"
    assert [f.subject.id for f in run(snapshot, "C-2")] == [
        "66.171.40.16/29",
        "2600:1700:5d30:1f0:0:0:0:0/64",
    ]


def test_c2_fails_for_ranges_that_together_cover_every_ipv4_address():
    findings = run(_with_client(["0.0.0.0/1", "128.0.0.0/1"]), "C-2")
    assert [f.status for f in findings] == ["fail", "fail"]
    assert "together, 0.0.0.0/1, 128.0.0.0/1 cover every IPv4 address" in findings[0].message
    assert findings[1].evidence["union"] == ["0.0.0.0/1", "128.0.0.0/1"]


def test_c2_fails_for_the_whole_ipv4_mapped_block_as_every_ipv4_address():
    finding = one(_with_client(["0:0:0:0:0:ffff:0:0/96"]), "C-2")
    assert finding.status == "fail" and "every IPv4 address" in finding.message


def test_c2_flags_an_ipv4_mapped_private_range_as_private():
    finding = one(_with_client(["0:0:0:0:0:ffff:a00:0/104"]), "C-2")
    assert finding.status == "warn" and finding.evidence["flags"] == ["is_private"]
    assert "it means 10.0.0.0/8" in finding.message and "broader than /16" in finding.message
