"""Decoding a failed sign-in: error codes, IPs and named locations, the explanation in words, the fix it
offers, and the investigation's filters as a shareable URL (investigate/, pure)."""

from __future__ import annotations

from datetime import datetime

import pytest
from posture_fixtures import (
    CLIENT_ID,
    CLIENT_MFA_POLICY_ID,
    DIRECT_ID,
    DIRECT_SA_UPN,
    MSP_ID,
    TECH_POLICY_ID,
    TRUSTED_ID,
    client_tenant,
    country_location,
    msp_tenant,
    policy,
)

from investigate.codes import BAD_PASSWORD, CA_BLOCK, MFA_FAILED, OTHER, describe
from investigate.explain import (
    FIX_D1,
    FIX_TRUSTED_RANGE,
    TenantContext,
    explain_signin,
    fix_for_signin,
    primary_blocking_policy,
    related_findings,
)
from investigate.filters import Filters
from investigate.network import BadIpFilter, ip_key, ip_locations, parse_ip_filter
from posture import Finding, Subject

NOW = datetime(2026, 11, 22, 12, 0)


def failed(
    code: int = 53003,
    *,
    ip: str = "198.51.100.7",
    applied: list[dict] | None = None,
    upn: str = "alex@msp.example",
    cross: str = "none",
    home: str = MSP_ID,
    **extra,
) -> dict:
    return {
        "id": "s-1",
        "createdDateTime": "2026-11-22T10:00:00Z",
        "userPrincipalName": upn,
        "ipAddress": ip,
        "clientAppUsed": "Browser",
        "crossTenantAccessType": cross,
        "homeTenantId": home,
        "conditionalAccessStatus": "failure" if applied else "notApplied",
        "status": {"errorCode": code, "failureReason": "Graph's own words"},
        "location": {
            "city": "Portland",
            "countryOrRegion": "US",
            "geoCoordinates": {"latitude": 45.5, "longitude": -122.7},
        },
        "appliedConditionalAccessPolicies": applied or [],
        **extra,
    }


def applied(
    pid: str,
    name: str,
    grant: str = "Block",
    result: str = "failure",
    satisfied: str = "application,users,location",
) -> dict:
    return {
        "id": pid,
        "displayName": name,
        "result": result,
        "enforcedGrantControls": [grant],
        "enforcedSessionControls": [],
        "conditionsSatisfied": satisfied,
    }


def msp_context(**changes) -> TenantContext:
    raw = msp_tenant()
    values = dict(
        tenant_id=MSP_ID,
        tenant_name="Northwind MSP",
        role="msp",
        msp_tenant_id=MSP_ID,
        service_account_upn="cipp@msp.example",
        policies=raw["conditionalAccessPolicies"],
        named_locations=raw["namedLocations"],
    )
    values.update(changes)
    return TenantContext(**values)


def client_context(**changes) -> TenantContext:
    raw = client_tenant()
    values = dict(
        tenant_id=CLIENT_ID,
        tenant_name="Tailspin Toys",
        role="client",
        access_mode="gdap",
        msp_tenant_id=MSP_ID,
        service_account_upn="cipp@msp.example",
        policies=raw["conditionalAccessPolicies"],
        named_locations=raw["namedLocations"],
    )
    values.update(changes)
    return TenantContext(**values)


TECH_BLOCK = applied(TECH_POLICY_ID, "CIPP - Block technicians outside trusted location")


# --- error codes ------------------------------------------------------------------------------------


def test_error_53003_means_blocked_by_conditional_access():
    assert describe(53003).meaning == "blocked by Conditional Access"
    assert describe(53003).reason == CA_BLOCK


def test_every_code_of_the_reference_has_a_meaning_and_a_reason():
    for code in (53000, 53001, 53002, 53004, 50074, 50076, 50079, 50126, 50053, 50057, 50055, 50158, 500121):
        assert describe(code).meaning and describe(code).reason != OTHER


def test_an_unknown_code_keeps_graphs_failure_reason():
    assert describe(70043, "The refresh token has expired").meaning == "The refresh token has expired"
    assert describe(70043).reason == OTHER


# --- IPs and named locations ------------------------------------------------------------------------


def test_ip_keys_sort_like_addresses():
    assert ip_key("10.0.0.2") < ip_key("10.0.0.10") < ip_key("192.168.0.1")
    assert ip_key("2001:db8::1") < ip_key("2001:db8::2")
    assert ip_key("not an ip") == ""


def test_a_cidr_filter_is_the_range_from_its_first_to_its_last_address():
    cidr = parse_ip_filter("198.51.100.0/24")
    assert cidr.low == ip_key("198.51.100.0") and cidr.high == ip_key("198.51.100.255")
    assert not cidr.single and parse_ip_filter("198.51.100.7").single


def test_a_cidr_with_host_bits_is_taken_as_its_network():
    assert str(parse_ip_filter("203.0.113.5/24").network) == "203.0.113.0/24"


def test_an_ip_filter_that_is_not_an_address_is_refused_in_words():
    with pytest.raises(BadIpFilter, match="not an IP address or CIDR"):
        parse_ip_filter("office")


def test_an_ip_lies_in_the_named_locations_whose_ranges_contain_it():
    locations = msp_tenant()["namedLocations"]
    [match] = ip_locations("66.171.40.18", locations)
    assert (match.id, match.trusted, match.range) == (TRUSTED_ID, True, "66.171.40.16/29")
    assert ip_locations("198.51.100.7", locations) == []
    assert ip_locations("2600:1700:5d30:1f0::9", locations)[0].name == "Trusted - MSP Office"


# --- the explanation --------------------------------------------------------------------------------


def test_a_technician_blocked_outside_the_trusted_location_is_explained_with_the_ip_and_location():
    explanation = explain_signin(failed(applied=[TECH_BLOCK]), msp_context())
    assert explanation.summary == (
        "blocked by 'CIPP - Block technicians outside trusted location' because "
        "198.51.100.7 is not in 'Trusted - MSP Office'"
    )
    assert explanation.in_trusted_location is False
    assert explanation.trusted_words == "not in a trusted location"


def test_a_sign_in_from_the_office_is_in_the_trusted_location():
    explanation = explain_signin(failed(ip="66.171.40.17", applied=[TECH_BLOCK]), msp_context())
    assert explanation.in_trusted_location is True
    assert "in trusted 'Trusted - MSP Office'" == explanation.trusted_words


def test_a_country_block_names_the_country_and_the_location():
    blocked = policy("p-geo", "Block high-risk countries", locations=(["l-geo"], []), grant=["block"])
    ctx = msp_context(policies=[blocked], named_locations=[country_location("l-geo", "High risk", ["RU"])])
    signin = failed(
        applied=[applied("p-geo", "Block high-risk countries")],
        location={"countryOrRegion": "RU", "city": "Moscow"},
    )
    assert explain_signin(signin, ctx).summary == (
        "blocked by 'Block high-risk countries' because the sign-in came from RU, which is in 'High risk'"
    )


def test_a_legacy_authentication_block_names_the_client_app():
    signin = failed(
        applied=[
            applied("p-legacy", "Block legacy authentication", satisfied="application,users,clientType")
        ],
        clientAppUsed="Exchange ActiveSync",
    )
    assert "it blocks the client app 'Exchange ActiveSync'" in explain_signin(signin, msp_context()).summary


def test_a_device_requirement_says_the_device_is_not_compliant():
    signin = failed(
        53000,
        applied=[
            applied(
                "p-dev", "Require compliant device", "RequireCompliantDevice", satisfied="application,users"
            )
        ],
        deviceDetail={"operatingSystem": "Windows10", "isCompliant": False, "isManaged": False},
    )
    summary = explain_signin(signin, msp_context()).summary
    assert summary.startswith("stopped by 'Require compliant device' because it requires a compliant")
    assert "is not compliant" in summary


def test_the_policy_whose_grant_explains_the_code_is_the_one_that_blocked():
    mfa = applied("p-mfa", "Require MFA", "Mfa", satisfied="application,users")
    signin = failed(53003, applied=[mfa, TECH_BLOCK])
    assert primary_blocking_policy(signin) == (TECH_POLICY_ID, TECH_BLOCK["displayName"])
    assert [p.name for p in explain_signin(signin, msp_context()).blocking][0] == TECH_BLOCK["displayName"]


def test_an_mfa_failure_says_the_challenge_was_not_completed():
    signin = failed(
        500121,
        applied=[applied("p-mfa", "Require MFA", "Mfa", satisfied="application,users")],
        authenticationDetails=[
            {
                "succeeded": False,
                "authenticationStepResultDetail": "MFA denied; user declined the authentication",
            }
        ],
    )
    explanation = explain_signin(signin, msp_context())
    assert explanation.reason == MFA_FAILED
    assert "the MFA challenge was not completed (MFA denied; user declined" in explanation.summary


def test_a_wrong_password_is_explained_without_a_policy():
    explanation = explain_signin(failed(50126), msp_context())
    assert explanation.reason == BAD_PASSWORD and explanation.blocking == ()
    assert explanation.summary.startswith("invalid username or password")


def test_a_policy_switched_off_since_the_sign_in_is_said():
    ctx = msp_context(
        policies=[
            policy(
                TECH_POLICY_ID,
                "CIPP - Block technicians outside trusted location",
                "enabledForReportingButNotEnforced",
                locations=(["All"], [TRUSTED_ID]),
                grant=["block"],
            )
        ]
    )
    facts = explain_signin(failed(applied=[TECH_BLOCK]), ctx).facts
    assert any("is report-only now" in fact for fact in facts)


def test_without_collected_named_locations_the_trusted_question_stays_open():
    explanation = explain_signin(failed(applied=[TECH_BLOCK]), msp_context(named_locations=None))
    assert explanation.in_trusted_location is None
    assert explanation.trusted_words == "named locations not collected"


# --- the fix it offers ------------------------------------------------------------------------------


def test_a_service_provider_blocked_by_a_client_policy_is_offered_the_d1_exclusion():
    signin = failed(
        applied=[applied(CLIENT_MFA_POLICY_ID, "CA001: Require MFA for all users")], cross="serviceProvider"
    )
    offer = fix_for_signin(signin, client_context())
    assert (offer.fix_id, offer.check, offer.tenant_id, offer.target_type, offer.target_id) == (
        FIX_D1,
        "D-1",
        CLIENT_ID,
        "policy",
        CLIENT_MFA_POLICY_ID,
    )
    assert "service-provider users" in offer.description


def test_the_direct_tenants_service_account_is_offered_the_exclusion_too():
    ctx = client_context(tenant_id=DIRECT_ID, access_mode="direct", service_account_upn=DIRECT_SA_UPN)
    signin = failed(
        applied=[applied("p-block", "CA010: Block outside the office")], upn=DIRECT_SA_UPN, home=DIRECT_ID
    )
    offer = fix_for_signin(signin, ctx)
    assert offer.fix_id == FIX_D1 and offer.parameters == {"accessMode": "direct"}
    assert "the CIPP service account" in offer.description


def test_a_clients_own_user_blocked_by_its_policy_is_offered_nothing():
    signin = failed(
        applied=[applied(CLIENT_MFA_POLICY_ID, "CA001")], upn="ann@tailspintoys.com", home=CLIENT_ID
    )
    assert fix_for_signin(signin, client_context()) is None


def test_a_technician_blocked_outside_the_office_is_offered_the_ip_for_the_trusted_location():
    offer = fix_for_signin(failed(applied=[TECH_BLOCK]), msp_context())
    assert (offer.fix_id, offer.check, offer.target_type, offer.target_id) == (
        FIX_TRUSTED_RANGE,
        "LOC-1",
        "namedLocation",
        TRUSTED_ID,
    )
    assert offer.parameters == {"range": "198.51.100.7/32"}
    assert "egress IP of your office" in offer.caution


def test_a_technician_already_inside_the_trusted_location_is_offered_nothing():
    assert fix_for_signin(failed(ip="66.171.40.17", applied=[TECH_BLOCK]), msp_context()) is None


def test_a_failure_that_conditional_access_did_not_cause_offers_no_fix():
    assert fix_for_signin(failed(50126), msp_context()) is None


def test_related_findings_are_those_about_the_blocking_policy_most_urgent_first():
    def finding(check: str, status: str, subject_id: str, tenant: str = MSP_ID) -> Finding:
        return Finding(check, tenant, status, "critical", Subject("policy", subject_id, "x"), check)

    findings = [
        finding("A-3", "pass", TECH_POLICY_ID),
        finding("A-2", "fail", TECH_POLICY_ID),
        finding("B-2", "fail", "another policy"),
        finding("A-2", "fail", TECH_POLICY_ID, CLIENT_ID),
    ]
    related = related_findings(failed(applied=[TECH_BLOCK]), msp_context(), findings)
    assert [(f.check, f.status) for f in related] == [("A-2", "fail"), ("A-3", "pass")]


def test_a_blocked_service_provider_relates_to_the_tenants_d2_finding():
    d2 = Finding("D-2", CLIENT_ID, "fail", "high", Subject("tenant", CLIENT_ID, "Tailspin"), "blocked")
    signin = failed(applied=[applied(CLIENT_MFA_POLICY_ID, "CA001")], cross="serviceProvider")
    assert related_findings(signin, client_context(), [d2]) == [d2]


# --- filters in the URL -----------------------------------------------------------------------------


def test_filters_survive_the_round_trip_through_the_url():
    filters = Filters(
        tenants=("t1", "t2"),
        period="7d",
        user="alex",
        app="CIPP",
        ip="198.51.100.0/24",
        country="US",
        codes=(53003, 50074),
        policy="p1",
        interactive=False,
        service_provider=True,
    )
    assert Filters.from_query_params(filters.to_query_params()) == filters


def test_a_custom_period_survives_the_round_trip():
    filters = Filters(period="custom", start=datetime(2026, 11, 20, 8, 0), end=datetime(2026, 11, 21, 8, 0))
    assert Filters.from_query_params(filters.to_query_params()) == filters
    assert filters.window(NOW) == (datetime(2026, 11, 20, 8, 0), datetime(2026, 11, 21, 8, 0))


def test_default_filters_make_an_empty_query_string():
    assert Filters().to_query_params() == {}
    assert Filters().window(NOW) == (datetime(2026, 11, 21, 12, 0), NOW)


def test_codes_and_tenants_may_be_comma_separated_or_repeated():
    filters = Filters.from_query_params({"code": ["53003,50074", "53003"], "tenant": ["a", "b,a"]})
    assert filters.codes == (53003, 50074) and filters.tenants == ("a", "b")


def test_a_bad_url_value_is_dropped_and_named():
    filters = Filters.from_query_params(
        {"ip": "office", "code": "blocked", "period": "forever", "interactive": "maybe"}
    )
    assert (filters.ip, filters.codes, filters.period, filters.interactive) == ("", (), "24h", None)
    assert len(filters.problems) == 4
    assert any("office" in p for p in filters.problems)


def test_only_tenant_time_and_code_filters_can_be_answered_by_the_counters():
    assert Filters(tenants=("t",), codes=(53003,)).only_tenant_time_code
    assert not Filters(codes=(53003,)).only_tenant_time
    assert not Filters(user="alex").only_tenant_time_code
    assert not Filters(service_provider=True).only_tenant_time_code
