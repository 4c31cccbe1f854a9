"""Conditional Access what-if (issue 15, item 4): the simulator answers beta
``POST identity/conditionalAccess/evaluate`` with its own CA engine; Perimeter's client (TenantGraph,
connectors.whatif) and reader (investigate.whatif) say which policies apply and which block, and turn
every refusal into a reason and a sentence, never a traceback."""

from __future__ import annotations

import copy

import httpx
import pytest

from connectors.whatif import run_what_if
from investigate.whatif import (
    WhatIfInputError,
    WhatIfQuery,
    query_from_signin,
    read_answer,
    request_body,
    validated,
)
from settings import load_settings
from simulator import SimConfig, Simulator, demo, geo
from simulator.ca import SignInFacts
from support import FIXED_NOW

NAMES = {c.display_name: c for c in demo.client_tenants()}
RELECLOUD = NAMES["Relecloud"].tenant_id  # CA010 blocks outside the office, no service-provider exclusion
ADVENTURE = NAMES["Adventure Works Cycles"].tenant_id  # CA005 requires a compliant or joined device
COHO = NAMES["Coho Winery"].tenant_id  # no Entra ID P1
SEED = 7
SERVICE_ACCOUNT = demo.directory(SEED, demo.MSP_TENANT_ID).service_account
assert SERVICE_ACCOUNT is not None
OUTLOOK_WEB = geo.USER_APPS[1]
EXCHANGE = geo.LEGACY_APPS[0]
CIPP_APP = geo.App(demo.CIPP_APP_ID, demo.CIPP_APP_NAME, demo.CIPP_APP_ID, demo.CIPP_APP_NAME, geo.BROWSER)


@pytest.fixture(scope="module")
def quiet_simulator():  # type: ignore[no-untyped-def]
    """The demo without Graph's throttling: these tests ask one tenant many times a second (the
    throttled path is the collectors'; tests/test_simulator.py covers the limits)."""
    with Simulator(SimConfig(seed=SEED, now=FIXED_NOW, throttle=False)) as simulator:
        yield simulator


@pytest.fixture
def sim(quiet_simulator):  # type: ignore[no-untyped-def]
    httpx.post(f"{quiet_simulator.url}/_sim/faults", json={"faults": []})
    yield quiet_simulator
    httpx.post(f"{quiet_simulator.url}/_sim/faults", json={"faults": []})


@pytest.fixture
def settings(sim, tmp_path):  # type: ignore[no-untyped-def]
    return load_settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", simulator_url=sim.url)


def _post(sim, tenant_id: str, body: object, version: str = "beta") -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{sim.url}/{version}/identity/conditionalAccess/evaluate",
        json=body,
        headers={"Authorization": f"Bearer {sim.token(tenant_id)}"},
    )


def _office_ip(tenant_id: str) -> str:
    spec = demo.client_by_id(tenant_id)
    assert spec is not None
    return demo.office_range(SEED, spec)[1][0]


def _member(tenant_id: str) -> demo.Person:
    return next(p for p in demo.directory(SEED, tenant_id).active_members if p.kind == "staff")


# --- one table of sign-ins: (tenant, who, app, client app, ip, country, platform) -----------------------


def _table() -> list[tuple[str, str, SignInFacts]]:
    rows = []
    for tenant_id in (RELECLOUD, ADVENTURE):
        member = _member(tenant_id)
        office = _office_ip(tenant_id)

        def facts(person, kind, app, client, ip, country, platform, home=tenant_id, roles=()):  # type: ignore[no-untyped-def]
            groups = frozenset(person.groups) if kind == "member" else frozenset()
            return SignInFacts(
                user_id=person.id, user_kind=kind, home_tenant=home, groups=groups,
                roles=frozenset(roles or (person.roles if kind == "member" else ())), app=app,
                client_app_type=client, ip=ip, country=country, platform=platform,
                device_compliant=False, device_hybrid=False, mfa_outcome="claim",
            )  # fmt: skip

        sp = dict(home=demo.MSP_TENANT_ID, roles=demo.GDAP_ROLE_TEMPLATE_IDS)
        rows += [
            (tenant_id, "CIPP from its egress", facts(SERVICE_ACCOUNT, "serviceProvider", CIPP_APP, "browser",
                                                       demo.CIPP_EGRESS_IP, "US", "Windows", **sp)),
            (tenant_id, "CIPP from the office", facts(SERVICE_ACCOUNT, "serviceProvider", CIPP_APP, "browser",
                                                       office, "US", "Windows", **sp)),
            (tenant_id, "member at the office", facts(member, "member", OUTLOOK_WEB, "browser", office, "US",
                                                       "Windows10")),
            (tenant_id, "member abroad", facts(member, "member", OUTLOOK_WEB, "mobileAppsAndDesktopClients",
                                                "81.2.69.160", "GB", "macOS")),
            (tenant_id, "member on legacy mail", facts(member, "member", EXCHANGE, "exchangeActiveSync",
                                                        "81.2.69.160", "GB", "iOS")),
        ]  # fmt: skip
    return rows


def _query(tenant_id: str, f: SignInFacts) -> WhatIfQuery:
    external = f.user_kind == "serviceProvider"
    return WhatIfQuery(
        user_id=f.user_id,
        app_ids=(f.app.app_id,),
        ip_address=f.ip,
        country=f.country,
        client_app_type=f.client_app_type,
        device_platform={"windows10": "windows"}.get(f.platform.lower(), f.platform),
        external_user_type="serviceProvider" if external else "",
        external_tenant_id=f.home_tenant if external else "",
    )


@pytest.mark.parametrize(
    ("tenant_id", "case", "facts"), _table(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_what_if_answers_match_the_simulators_own_evaluation(sim, settings, tenant_id, case, facts):
    with sim.state.lock:
        compiled = sim.state.snapshot_at(tenant_id, sim.state.clock.now_ts() + 1).policies
    expected = {
        a["id"]
        for a in compiled.evaluate(facts).applied
        if a["result"] not in ("notApplied", "reportOnlyNotApplied", "notEnabled")
    }
    call = run_what_if(settings, tenant_id, _query(tenant_id, facts))
    assert call.ok, call.message
    answer = read_answer(call.results or [])
    assert {p.id for p in answer.applying} == expected
    assert len(answer.policies) == len(compiled.policies)  # every policy answered, applying or not


def test_cipp_from_its_egress_is_blocked_by_the_office_only_policy(sim, settings):
    facts = next(f for t, case, f in _table() if t == RELECLOUD and case == "CIPP from its egress")
    answer = read_answer(run_what_if(settings, RELECLOUD, _query(RELECLOUD, facts)).results or [])
    assert [p.name for p in answer.blocking] == ["CA010: Block access from outside the office"]
    assert answer.summary.startswith("Blocked: 'CA010: Block access from outside the office'")


def test_a_policy_that_does_not_apply_says_why(sim, settings):
    facts = next(f for t, case, f in _table() if t == RELECLOUD and case == "CIPP from the office")
    answer = read_answer(run_what_if(settings, RELECLOUD, _query(RELECLOUD, facts)).results or [])
    office = next(p for p in answer.policies if p.name.startswith("CA010"))
    assert not office.applies and office.reason == "location"
    assert "outside its locations" in office.verdict
    legacy = next(p for p in answer.policies if p.name.startswith("CA002"))
    assert legacy.reason == "users" and not answer.blocking  # CA002 excludes service providers


def test_a_report_only_policy_that_would_block_is_named_apart(sim, settings):
    humongous = NAMES["Humongous Insurance"].tenant_id  # CA010 in report-only, no exclusion
    query = WhatIfQuery(
        SERVICE_ACCOUNT.id, (demo.CIPP_APP_ID,), demo.CIPP_EGRESS_IP, "US", "browser", "windows",
        "serviceProvider", demo.MSP_TENANT_ID,
    )  # fmt: skip
    answer = read_answer(run_what_if(settings, humongous, query).results or [])
    assert not answer.blocking
    assert [p.name for p in answer.policies if p.would_block] == [
        "CA010: Block access from outside the office"
    ]
    assert "would block it once switched On" in answer.summary


def test_a_missing_detail_is_not_enough_information(sim, settings):
    query = WhatIfQuery(
        SERVICE_ACCOUNT.id, (demo.CIPP_APP_ID,), external_user_type="serviceProvider",
        external_tenant_id=demo.MSP_TENANT_ID,
    )  # fmt: skip
    answer = read_answer(run_what_if(settings, RELECLOUD, query).results or [])
    office = next(p for p in answer.policies if p.name.startswith("CA010"))
    assert office.reason == "notEnoughInformation" and not office.applies


def test_the_answer_has_graphs_whatif_shape(sim):
    body = request_body(validated(_query(RELECLOUD, _table()[0][2])))
    response = _post(sim, RELECLOUD, body)
    assert response.status_code == 200
    document = response.json()
    assert document["@odata.context"].endswith("$metadata#Collection(microsoft.graph.whatIfAnalysisResult)")
    for result in document["value"]:
        assert {
            "id",
            "displayName",
            "state",
            "conditions",
            "grantControls",
            "policyApplies",
            "analysisReasons",
        } <= set(result)
        assert (result["analysisReasons"] == "notSet") == result["policyApplies"]


def test_applied_policies_only_leaves_out_the_others(sim):
    body = {**request_body(validated(_query(RELECLOUD, _table()[0][2]))), "appliedPoliciesOnly": True}
    values = _post(sim, RELECLOUD, body).json()["value"]
    assert values and all(v["policyApplies"] for v in values)


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda b: b.pop("signInContext"), "'signInContext' is required"),
        (lambda b: b["signInIdentity"].update(userId="nobody"), "expected a GUID"),
        (lambda b: b["signInContext"].update(includeApplications=[]), "at least one application"),
        (lambda b: b["signInConditions"].update(clientAppType="carrierPigeon"), "'clientAppType'"),
        (lambda b: b["signInIdentity"].update({"@odata.type": "#microsoft.graph.servicePrincipalSignIn"}),
         "not supported by the simulator"),
    ],
)  # fmt: skip
def test_a_bad_body_is_a_400_naming_the_field(sim, change, words):
    body = copy.deepcopy(request_body(validated(_query(RELECLOUD, _table()[0][2]))))
    change(body)
    response = _post(sim, RELECLOUD, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest" and words in response.json()["error"]["message"]


def test_the_action_exists_in_beta_only(sim):
    body = request_body(validated(_query(RELECLOUD, _table()[0][2])))
    assert _post(sim, RELECLOUD, body, version="v1.0").status_code == 400


def test_a_get_is_not_allowed(sim):
    response = httpx.get(
        f"{sim.url}/beta/identity/conditionalAccess/evaluate",
        headers={"Authorization": f"Bearer {sim.token(RELECLOUD)}"},
    )
    assert response.status_code == 405


def test_a_tenant_without_p1_is_not_licensed_with_a_sentence(sim, settings):
    member = _member(COHO)
    call = run_what_if(settings, COHO, WhatIfQuery(member.id, (OUTLOOK_WEB.app_id,), "81.2.69.160"))
    assert not call.ok and call.reason == "not-licensed"
    assert call.message.startswith("The tenant has no Entra ID P1/P2")
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in call.detail


def test_a_missing_permission_is_said_with_the_permission_to_grant(sim, settings):
    httpx.post(
        f"{sim.url}/_sim/faults",
        json={"faults": [{"kind": "revoked", "path": "/beta/identity/conditionalAccess/evaluate"}]},
    )
    member = _member(RELECLOUD)
    call = run_what_if(settings, RELECLOUD, WhatIfQuery(member.id, (OUTLOOK_WEB.app_id,)))
    assert not call.ok and call.reason == "no-permission"
    assert "Policy.Read.ConditionalAccess" in call.message


def test_an_unknown_user_is_not_found(sim, settings):
    call = run_what_if(
        settings, RELECLOUD, WhatIfQuery("00000000-0000-0000-0000-00000000abcd", (OUTLOOK_WEB.app_id,))
    )
    assert not call.ok and call.reason == "not-found"


def test_a_form_mistake_is_said_before_anything_is_sent(sim, settings):
    httpx.post(f"{sim.url}/_sim/stats/reset")
    call = run_what_if(
        settings, RELECLOUD, WhatIfQuery(_member(RELECLOUD).id, (OUTLOOK_WEB.app_id,), "10.0.0.300")
    )
    assert not call.ok and call.reason == "bad-input" and "IP address '10.0.0.300'" in call.message
    assert httpx.get(f"{sim.url}/_sim/stats").json()["requests"].get(RELECLOUD) is None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (WhatIfQuery("not-a-guid", (OUTLOOK_WEB.app_id,)), "User id must be an object id"),
        (WhatIfQuery(SERVICE_ACCOUNT.id, ()), "Application id is required"),
        (WhatIfQuery(SERVICE_ACCOUNT.id, (OUTLOOK_WEB.app_id,), country="USA"), "two-letter code"),
        (WhatIfQuery(SERVICE_ACCOUNT.id, (OUTLOOK_WEB.app_id,), device_platform="amiga"), "Device platform"),
    ],
)
def test_validation_names_the_field(query, words):
    with pytest.raises(WhatIfInputError, match=words):
        validated(query)


# --- from a stored sign-in ----------------------------------------------------------------------------


def test_a_service_provider_sign_in_becomes_a_query_with_its_home_tenant():
    signin = {
        "userId": SERVICE_ACCOUNT.id,
        "userPrincipalName": SERVICE_ACCOUNT.upn,
        "appId": demo.CIPP_APP_ID,
        "ipAddress": demo.CIPP_EGRESS_IP,
        "clientAppUsed": "Browser",
        "location": {"countryOrRegion": "US"},
        "deviceDetail": {"operatingSystem": "Windows10"},
        "homeTenantId": demo.MSP_TENANT_ID,
        "crossTenantAccessType": "serviceProvider",
    }
    query = query_from_signin(signin, RELECLOUD)
    assert query == WhatIfQuery(
        SERVICE_ACCOUNT.id, (demo.CIPP_APP_ID,), demo.CIPP_EGRESS_IP, "US", "browser", "windows",
        "serviceProvider", demo.MSP_TENANT_ID, SERVICE_ACCOUNT.upn,
    )  # fmt: skip


def test_a_members_legacy_sign_in_keeps_its_client_app_and_no_home_tenant():
    signin = {
        "userId": "7a6da1c3-616a-416b-a820-cbe4fa8e225e",
        "appId": EXCHANGE.app_id,
        "clientAppUsed": "IMAP4",
        "homeTenantId": RELECLOUD,
        "deviceDetail": {"operatingSystem": "Ios 17"},
    }
    query = query_from_signin(signin, RELECLOUD)
    assert (query.client_app_type, query.device_platform, query.external_user_type) == ("other", "iOS", "")


# --- the form on the Blocked sign-ins page (AppTest) -----------------------------------------------------

PAGE = "pages/signins.py"
PERIOD = {"period": "custom", "from": "2026-11-21T12:00", "to": "2026-11-22T12:00"}


@pytest.fixture
def page(quiet_simulator, demo_database, tmp_path_factory, app_test):  # type: ignore[no-untyped-def]
    from support import collect_demo, run_page

    url, _ = collect_demo(demo_database, tmp_path_factory, "whatif-page")
    return run_page(app_test(url, quiet_simulator.url, now=FIXED_NOW), PAGE, **PERIOD)


def _warnings(at) -> list[str]:  # type: ignore[no-untyped-def]
    """The page's warnings as read: plain() escapes Markdown with backslashes and word joiners."""
    return [w.value.replace("\u2060", "").replace("\\", "") for w in at.warning]


def _ask(at, tenant_id: str, user: str, app_id: str, ip: str = ""):  # type: ignore[no-untyped-def]
    at.selectbox(key="whatif_tenant").set_value(tenant_id)
    at.text_input(key="whatif_user").input(user)
    at.text_input(key="whatif_app").input(app_id)
    at.text_input(key="whatif_ip").input(ip)
    next(b for b in at.button if b.label == "Evaluate").click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_form_says_a_tenant_without_p1_is_not_licensed_without_a_traceback(page):
    at = _ask(page, COHO, _member(COHO).upn, OUTLOOK_WEB.app_id, "81.2.69.160")
    assert any("no Entra ID P1/P2" in w for w in _warnings(at))


def test_the_form_says_which_field_is_wrong(page):
    at = _ask(page, RELECLOUD, _member(RELECLOUD).upn, OUTLOOK_WEB.app_id, "10.0.0.300")
    assert any("IP address '10.0.0.300' is not an IPv4 or IPv6 address" in w for w in _warnings(at))


def test_the_form_says_an_unknown_user_is_unknown(page):
    at = _ask(page, RELECLOUD, "nobody@relecloud.example", OUTLOOK_WEB.app_id)
    assert any("'nobody@relecloud.example' is not among the collected users" in w for w in _warnings(at))


def test_the_form_finds_a_member_by_upn_and_shows_every_policy(page, quiet_simulator):
    at = _ask(page, RELECLOUD, _member(RELECLOUD).upn, OUTLOOK_WEB.app_id, "81.2.69.160")
    table = next(t for t in at.table if "Outcome" in t.value.columns)
    policies = quiet_simulator.state.tenants[RELECLOUD].config.policies
    assert len(table.value) == len(policies)
    verdicts = [m.value for m in (*at.error, *at.success) if "policies apply" in m.value]
    assert len(verdicts) == 1
