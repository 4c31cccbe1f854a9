"""Report-only impact (investigate.impact, db.policy_outcomes.policy_impact) and its page, on the demo MSP
collected at FIXED_NOW."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from db import write_transaction
from db.models import GraphObject, SignIn
from db.policy_outcomes import WOULD_BLOCK, policy_impact, report_only_policies
from db.queries import active_tenants
from db.signin_raw import raw_json
from db.store import ingest_signin_page
from investigate.impact import (
    BREAK_GLASS,
    SERVICE_ACCOUNT,
    SERVICE_PROVIDER,
    TECHNICIAN,
    People,
    Tallies,
    WouldBlock,
    summarise,
    tally,
)
from simulator import demo
from support import FIXED_NOW, collect_demo, run_page

PAGE = "pages/report_only.py"
MSP = demo.MSP_TENANT_ID
PEOPLE = People(MSP, demo.SERVICE_ACCOUNT_UPN, frozenset(u.lower() for u in demo.BREAK_GLASS_UPNS))
OUTSIDE_IP = "198.51.100.23"
TECHNICIAN_UPN = "megan.bowen@northwindmsp.onmicrosoft.com"


@pytest.fixture(scope="module")
def demo_copy(demo_database, tmp_path_factory):
    return collect_demo(demo_database, tmp_path_factory, "report-only")


def _report_only_impacts(engine):
    with engine.connect() as conn:
        tenants = [t.tenant_id for t in active_tenants(conn)]
        return [
            (p, policy_impact(conn, p.tenant_id, p.policy_id, FIXED_NOW, PEOPLE))
            for p in report_only_policies(conn, tenants)
        ]


def _service_account_blocker(engine):
    return next(
        (p, impact) for p, impact in _report_only_impacts(engine) if impact.flagged.get(SERVICE_ACCOUNT)
    )


# --- who matters --------------------------------------------------------------------------------------


def test_people_are_the_service_account_break_glass_service_providers_and_technicians():
    assert PEOPLE.role("client-1", demo.SERVICE_ACCOUNT_UPN.upper()) == SERVICE_ACCOUNT
    assert PEOPLE.role(MSP, demo.BREAK_GLASS_UPNS[0]) == BREAK_GLASS
    assert PEOPLE.role("client-1", TECHNICIAN_UPN, "serviceProvider", MSP) == SERVICE_PROVIDER
    assert PEOPLE.role(MSP, TECHNICIAN_UPN) == TECHNICIAN
    assert PEOPLE.role("client-1", "someone@client.example") is None


def _would_block(upn: str, tenant: str = MSP, ip: str = OUTSIDE_IP, result: str = "reportOnlyFailure"):
    return WouldBlock(
        str(uuid.uuid4()),
        FIXED_NOW - timedelta(hours=3),
        result,
        upn,
        "CIPP",
        ip,
        "US",
        PEOPLE.role(tenant, upn),
    )


def test_the_sentence_says_what_changes_and_names_who_would_be_locked_out():
    impact = summarise(
        tenant_id=MSP,
        policy={"id": "p", "displayName": "Pilot", "state": "enabledForReportingButNotEnforced"},
        start=FIXED_NOW - timedelta(days=14),
        end=FIXED_NOW,
        tallies=tally(
            [
                _would_block(demo.SERVICE_ACCOUNT_UPN),
                _would_block(TECHNICIAN_UPN, result="reportOnlyInterrupted"),
            ],
            hourly=False,
            with_ips_by_user=True,
        ),
        people=PEOPLE,
        applied=10,
        first_outcome=None,
    )
    assert impact.sentence() == (
        "Switched On, 'Pilot' would have blocked 1 and interrupted 1 sign-ins of 2 users in the last 14 "
        f"days, among them the CIPP service account {demo.SERVICE_ACCOUNT_UPN}; the technician "
        f"{TECHNICIAN_UPN}."
    )
    assert impact.lockout_roles == (SERVICE_ACCOUNT,)


def test_a_policy_that_applied_to_nothing_says_there_is_no_evidence():
    impact = summarise(
        tenant_id=MSP,
        policy={
            "id": "p",
            "displayName": "Pilot",
            "state": "enabledForReportingButNotEnforced",
            "modifiedDateTime": "2026-11-22T02:00:00Z",
        },
        start=FIXED_NOW - timedelta(days=14),
        end=FIXED_NOW,
        tallies=Tallies(),
        people=PEOPLE,
        applied=0,
        first_outcome=None,
    )
    assert "no evidence yet" in impact.sentence()
    assert impact.thin_evidence(FIXED_NOW) == [
        "the policy has been in report-only for 10 h, under 24 h",
        "it applied to no sign-in in the last 14 days",
    ]


# --- on the demo ----------------------------------------------------------------------------------------


def test_the_impact_of_a_report_only_policy_on_the_demo_names_the_service_account(demo_copy):
    _url, engine = demo_copy
    policy, impact = _service_account_blocker(engine)
    assert impact.flagged[SERVICE_ACCOUNT] == (demo.SERVICE_ACCOUNT_UPN,)
    assert SERVICE_ACCOUNT in impact.lockout_roles
    assert f"the CIPP service account {demo.SERVICE_ACCOUNT_UPN}" in impact.sentence()
    # Against the sign-ins' own JSON: every one of the service account's would-be blocks is counted.
    with engine.connect() as conn:
        raws = conn.execute(
            select(SignIn.raw).where(
                SignIn.tenant_id == policy.tenant_id,
                SignIn.user_principal_name == demo.SERVICE_ACCOUNT_UPN,
                SignIn.created_at >= FIXED_NOW - timedelta(days=14),
            )
        ).scalars()
        expected = sum(
            1
            for raw in raws
            for applied in orjson.loads(raw_json(conn, raw)).get("appliedConditionalAccessPolicies") or []
            if applied.get("id") == policy.policy_id and applied.get("result") in WOULD_BLOCK
        )
    assert expected > 0
    assert impact.role_signins[SERVICE_ACCOUNT] == expected


def test_every_report_only_policy_of_the_demo_has_an_impact(demo_copy):
    impacts = _report_only_impacts(demo_copy[1])
    assert impacts and all(impact is not None for _p, impact in impacts)
    assert any(impact.total for _p, impact in impacts)


# --- the page ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page_demo(demo_database, tmp_path_factory, simulator):
    """A demo copy whose technician block policy was collected in report-only, with a technician it would
    have blocked from an IP outside the trusted location."""
    url, engine = collect_demo(demo_database, tmp_path_factory, "report-only-page")
    with write_transaction(engine) as conn:
        rows = conn.execute(
            select(GraphObject.id, GraphObject.body).where(
                GraphObject.tenant_id == MSP, GraphObject.kind == "conditionalAccessPolicies"
            )
        ).all()
        row_id, body = next(
            (i, orjson.loads(b))
            for i, b in rows
            if orjson.loads(b)["displayName"].startswith("CIPP - Block technicians")
        )
        body["state"] = "enabledForReportingButNotEnforced"
        conn.execute(
            update(GraphObject).where(GraphObject.id == row_id).values(body=orjson.dumps(body).decode())
        )
    ingest_signin_page(
        engine,
        MSP,
        [
            {
                "id": str(uuid.uuid4()),
                "createdDateTime": (FIXED_NOW - timedelta(hours=2, minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "userPrincipalName": TECHNICIAN_UPN,
                "appDisplayName": "CIPP",
                "ipAddress": OUTSIDE_IP,
                "status": {"errorCode": 0},
                "appliedConditionalAccessPolicies": [{"id": body["id"], "result": "reportOnlyFailure"}],
            }
            for i in range(3)
        ],
    )
    return url, simulator.url, body["id"]


@pytest.fixture
def app(page_demo, app_test) -> AppTest:
    return app_test(page_demo[0], page_demo[1], now=FIXED_NOW)


def test_the_page_lists_report_only_policies_across_tenants(app, page_demo):
    at = run_page(app, PAGE)
    options = at.selectbox[0].options
    with open_engine(page_demo[0]) as engine:
        impacts = _report_only_impacts(engine)
    assert len(options) == len(impacts)
    assert any("Block technicians outside trusted location" in o for o in options)


def test_the_page_says_what_changes_and_flags_the_service_account(app, page_demo):
    with open_engine(page_demo[0]) as engine:
        policy, _impact = _service_account_blocker(engine)
    at = run_page(app, PAGE, tenant=policy.tenant_id, policy=policy.policy_id)
    said = next(e.value for e in at.error if e.value.startswith("Switched On"))  # tenant text made plain
    assert "CIPP service account cipp\\@" in said
    flagged = next(df.value for df in at.dataframe if "Lockout" in df.value.columns)
    assert (flagged["User"] == demo.SERVICE_ACCOUNT_UPN).any()


def test_a_technician_blocked_outside_the_trusted_location_gets_the_loc1_fix(app, page_demo):
    at = run_page(app, PAGE, tenant=MSP, policy=page_demo[2])
    said = next(w.value for w in at.warning if w.value.startswith("Switched On"))
    assert "technician megan\\.bowen" in said
    assert any(OUTSIDE_IP.replace(".", "\\.") in m.value for m in at.markdown)
    assert any(b.label.startswith("Plan fix: add") for b in at.button)


def test_an_unknown_policy_in_the_link_is_said(app):
    at = run_page(app, PAGE, tenant=MSP, policy="not-a-policy")
    assert any("not in report-only" in w.value for w in at.warning)


class open_engine:
    def __init__(self, url: str):
        from db import open_database

        self.engine = open_database(url)

    def __enter__(self):
        return self.engine

    def __exit__(self, *exc):
        self.engine.dispose()
