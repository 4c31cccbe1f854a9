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

from investigate.advice import result_words
from investigate.codes import (
    ALL_FAILURES,
    BAD_PASSWORD,
    BLOCKED,
    BLOCKED_CODES,
    CA_BLOCK,
    CODES,
    DISABLED,
    LOCKED,
    MFA_FAILED,
    OTHER,
    PASSWORD_EXPIRED,
    describe,
    is_blocked,
)
from investigate.explain import (
    FIX_D1,
    FIX_TRUSTED_RANGE,
    TenantContext,
    explain_signin,
    fix_for_signin,
    policy_results,
    primary_blocking_policy,
    related_findings,
)
from investigate.filters import Filters
from investigate.network import BadIpFilter, ip_key, ip_locations, parse_ip_filter
from posture import Finding, Subject
from support import sample

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


def test_blocked_means_conditional_access_mfa_not_completed_locked_or_disabled():
    assert BLOCKED_CODES == {
        53003,
        53000,
        53001,
        53002,
        53004,
        50074,
        50076,
        50079,
        500121,
        50158,
        50053,
        50057,
    }
    assert describe(50053).reason == LOCKED and describe(50057).reason == DISABLED


def test_a_wrong_or_expired_password_or_an_unknown_code_is_a_failure_but_not_a_block():
    assert not is_blocked(50126) and describe(50126).reason == BAD_PASSWORD
    assert not is_blocked(50055) and describe(50055).reason == PASSWORD_EXPIRED
    assert not is_blocked(70043) and not is_blocked(0)
    assert {c for c in CODES if not is_blocked(c)} == {50126, 50055}


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


# --- every policy with its result, as Entra's Conditional Access tab lists them ----------------------


def sample_signin(name: str) -> dict:
    body = sample(name)
    return body["value"][0] if "value" in body else body


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "signin_entradocs_sample_guest_mfa_ca_success_and_legacy_block_notapplied.json",
            [
                ("CA004: Require multi-factor authentication for all users", "Success"),
                ("CA003: Block legacy authentication", "Not applied"),
            ],
        ),
        (
            "signins_beta_list_2020ver_ex2_single_factor_password_mfa_policy_notapplied.response.json",
            [("MFA policy", "Not applied"), ("PipelineTest4", "Disabled")],
        ),
        (
            "signin_beta_get_mfa_fido2_ca_notEnabled.response.json",
            [
                ("SharePoint limited access for guest workers", "Disabled"),
                ("Medium signin risk block", "Disabled"),
            ],
        ),
        ("signins_beta_get_legacy_2018_shape_capPolicy_success.response.json", [("capPolicy", "Success")]),
        ("signins_beta_list_ex1_password_failure_50126.response.json", []),
    ],
)
def test_every_policy_of_a_graph_sample_is_listed_with_its_result_as_entra_words_it(name, expected):
    results = policy_results(sample_signin(name), TenantContext(tenant_id="t"))
    assert [(r.name, r.result_words) for r in results] == expected
    assert all(r.what_to_do for r in results)


def test_a_success_says_its_controls_were_satisfied_and_nothing_is_to_do():
    name = "signin_entradocs_sample_guest_mfa_ca_success_and_legacy_block_notapplied.json"
    success, not_applied = policy_results(sample_signin(name), TenantContext(tenant_id="t"))
    assert success.what_to_do == "Applied and satisfied (Mfa): nothing to do."
    assert "did not match this sign-in" in not_applied.what_to_do


def test_every_report_only_result_is_worded_as_entra_shows_it():
    assert [
        result_words(r)
        for r in ("reportOnlyFailure", "reportOnlySuccess", "reportOnlyNotApplied", "reportOnlyInterrupted")
    ] == [
        "Report-only: Failure",
        "Report-only: Success",
        "Report-only: Not applied",
        "Report-only: User action required",
    ]
    assert result_words("unknownFutureValue") == "unknownFutureValue"  # a new value, as Graph writes it


def test_failures_come_first_then_report_only_then_the_rest_each_with_what_to_do():
    signin = failed(
        53003,
        applied=[
            applied("p-off", "Old policy", "Block", result="notEnabled"),
            applied("p-ok", "Require MFA", "Mfa", result="success"),
            applied("p-ro", "Block countries (test)", "Block", result="reportOnlyFailure"),
            TECH_BLOCK,
        ],
    )
    results = policy_results(signin, msp_context())
    assert [r.result_words for r in results] == ["Failure", "Report-only: Failure", "Success", "Disabled"]
    assert "would have stopped this sign-in" in results[1].what_to_do
    assert "off" in results[3].what_to_do


def test_a_blocked_technician_is_told_to_add_the_office_ip_to_the_trusted_location():
    [blocked] = policy_results(failed(53003, applied=[TECH_BLOCK]), msp_context())
    assert blocked.result_words == "Failure" and blocked.why
    assert blocked.what_to_do.startswith("If 198.51.100.7 is your office's egress IP: add 198.51.100.7/32")


def test_a_blocked_service_provider_is_pointed_to_the_offered_exclusion():
    signin = failed(
        53003,
        applied=[applied(CLIENT_MFA_POLICY_ID, "CA001: Require MFA for all users")],
        cross="serviceProvider",
    )
    [blocked] = policy_results(signin, client_context())
    assert blocked.what_to_do.startswith("Fix offered below: exclude the MSP's service-provider users")


# A client tenant whose policies were not collected: its own users, no fix to offer.
CLIENT_OWN = TenantContext(tenant_id=CLIENT_ID, role="client", msp_tenant_id=MSP_ID)


@pytest.mark.parametrize(
    ("code", "grant", "words"),
    [
        (500121, "Mfa", "must complete the MFA prompt"),
        (50079, "Mfa", "must register an MFA method"),
        (53000, "RequireCompliantDevice", "compliant (Intune-enrolled) or hybrid-joined device"),
        (53002, "RequireApprovedApp", "approved client app"),
    ],
)
def test_a_failed_grant_says_what_the_user_must_do(code, grant, words):
    signin = failed(code, applied=[applied("p-1", "A policy", grant, satisfied="application,users")], home="")
    [result] = policy_results(signin, CLIENT_OWN)
    assert words in result.what_to_do


def test_a_legacy_client_blocked_is_told_to_use_modern_authentication():
    signin = failed(
        53003,
        applied=[applied("p-legacy", "Block legacy auth", satisfied="application,users,clientType")],
        clientAppUsed="IMAP4",
        home="",
    )
    [result] = policy_results(signin, CLIENT_OWN)
    assert "modern-authentication client" in result.what_to_do and "'IMAP4'" in result.what_to_do


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
        failures=ALL_FAILURES,
    )
    assert Filters.from_query_params(filters.to_query_params()) == filters


def test_a_custom_period_survives_the_round_trip():
    filters = Filters(period="custom", start=datetime(2026, 11, 20, 8, 0), end=datetime(2026, 11, 21, 8, 0))
    assert Filters.from_query_params(filters.to_query_params()) == filters
    assert filters.window(NOW) == (datetime(2026, 11, 20, 8, 0), datetime(2026, 11, 21, 8, 0))


def test_default_filters_make_an_empty_query_string():
    assert Filters().to_query_params() == {}
    assert Filters().window(NOW) == (datetime(2026, 11, 21, 12, 0), NOW)


def test_the_default_count_is_blocked_and_all_failures_is_said_in_the_url():
    assert Filters().failures == BLOCKED
    assert Filters().counted_codes == tuple(sorted(BLOCKED_CODES))
    every = Filters(failures=ALL_FAILURES)
    assert every.to_query_params() == {"failures": "all"} and every.counted_codes is None
    assert Filters.from_query_params({"failures": "all"}) == every


def test_chosen_codes_are_counted_within_the_kind():
    assert Filters(codes=(53003, 50126)).counted_codes == (53003,)
    assert Filters(codes=(50126,)).counted_codes == ()  # nothing: a wrong password is not a block
    assert Filters(codes=(50126,), failures=ALL_FAILURES).counted_codes == (50126,)


def test_a_link_to_a_code_that_is_not_a_block_counts_every_failure():
    assert Filters.from_query_params({"code": "50126"}).failures == ALL_FAILURES
    assert Filters.from_query_params({"code": "53003"}).failures == BLOCKED
    assert Filters.from_query_params({"code": "50126", "failures": "blocked"}).failures == BLOCKED


@pytest.mark.parametrize(
    ("dim", "value", "expected"),
    [
        ("user", "ann@tailspintoys.com", {"user": "ann@tailspintoys.com"}),
        ("app", "Outlook", {"app": "Outlook"}),
        ("ip", "198.51.100.7", {"ip": "198.51.100.7"}),
        ("country", "RU", {"country": "RU"}),
        ("policy", "p-1", {"policy": "p-1"}),
        ("code", "53003", {"code": "53003"}),
        ("code", "50126", {"code": "50126", "failures": "all"}),
    ],
)
def test_a_top_value_clicked_narrows_the_filters_by_it(dim, value, expected):
    base = Filters(period="7d", tenants=("t1",))
    assert base.narrowed(dim, value).to_query_params() == {"period": "7d", "tenant": ["t1"], **expected}


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
    assert Filters(tenants=("t",)).only_tenant_time_code  # blocked: a set of codes
    assert Filters(tenants=("t",), failures=ALL_FAILURES).only_tenant_time
    assert not Filters(tenants=("t",)).only_tenant_time  # other counters count every failure
    assert not Filters(codes=(53003,)).only_tenant_time
    assert not Filters(user="alex").only_tenant_time_code
    assert not Filters(service_provider=True).only_tenant_time_code
