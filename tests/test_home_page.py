"""Tenants, the home page: per tenant the posture score in words with its band, failing critical
findings (accepted ones left out), failed sign-ins in 24 h, MFA coverage, freshness, worst first, and
links to that tenant on the other pages. AppTest on the demo MSP collected at FIXED_NOW, and the pure
row builder (ui.home_data.tenant_health) on hand-made rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from db import write_transaction
from db.mfa_store import mfa_coverage_latest
from db.models import SignIn
from db.posture_store import add_accepted_risk, current_findings
from investigate.codes import BLOCKED_CODES
from posture import Finding
from posture.findings import Subject
from posture.scoring import SCORE_BANDS
from support import FIXED_NOW, collect_demo, run_page
from ui.home_data import freshness_words, tenant_health, tenant_link

SCORE_IN_WORDS = re.compile(r"^(\d+\.\d) / 100 — (good|fair|poor|critical)$")


# --- the rows (pure) ------------------------------------------------------------------------------------


def _tenant(tenant_id: str, name: str, **health) -> dict:  # type: ignore[no-untyped-def]
    row = {
        "tenantId": tenant_id,
        "name": name,
        "domain": f"{name.lower()}.example",
        "role": "client",
        "accessMode": "gdap",
        "sources": 7,
        "fresh": 7,
        "failing": 0,
        "oldestAgeSeconds": 120,
        "consentNeeded": False,
    }
    return {**row, **health}


def _finding(tenant_id: str, check: str, status: str, severity: str) -> Finding:
    return Finding(check, tenant_id, status, severity, Subject("tenant", tenant_id, ""), "")  # type: ignore[arg-type]


def test_rows_are_worst_first_by_critical_failures_then_score():
    tenants = [_tenant("a", "Alpha"), _tenant("b", "Bravo"), _tenant("c", "Charlie"), _tenant("d", "Delta")]
    findings = [
        _finding("a", "LOC-1", "fail", "high"),  # score 0, no critical
        _finding("b", "D-1", "fail", "critical"),
        _finding("b", "LOC-1", "pass", "high"),
        _finding("c", "LOC-1", "pass", "high"),  # score 100
    ]
    rows = tenant_health(tenants, findings, {}, {})
    assert [r.name for r in rows] == ["Bravo", "Alpha", "Charlie", "Delta"]  # Delta: not scored, last
    assert [r.band for r in rows] == ["critical", "critical", "good", "not scored"]


def test_an_accepted_critical_finding_is_not_counted_as_failing():
    findings = [_finding("a", "D-1", "accepted", "critical"), _finding("a", "A-1", "fail", "critical")]
    [row] = tenant_health([_tenant("a", "Alpha")], findings, {}, {})
    assert row.critical == 1


def test_mfa_share_and_blocked_sign_ins_come_from_their_own_counts():
    [row] = tenant_health([_tenant("a", "Alpha")], [], {"a": (200, 150)}, {"a": 42})
    assert (row.mfa_capable, row.blocked_24h) == (0.75, 42)
    [none] = tenant_health([_tenant("b", "Bravo")], [], {"b": (0, 0)}, {})
    assert none.mfa_capable is None and none.blocked_24h == 0


def test_a_failing_source_is_said_before_any_age():
    assert freshness_words(_tenant("a", "A", failing=2, fresh=5)) == "2 source(s) failing"
    assert freshness_words(_tenant("a", "A", oldestAgeSeconds=60)) == "fresh (oldest 60 s ago)"
    assert freshness_words(_tenant("a", "A", fresh=0, oldestAgeSeconds=7200)) == "stale (oldest 2 h ago)"


def test_a_tenant_link_carries_its_id_encoded():
    assert tenant_link("signins", "4f4e31f0-e773") == "./signins?tenant=4f4e31f0-e773"
    assert tenant_link("mfa", "a&b=c") == "./mfa?tenant=a%26b%3Dc"


# --- the page -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(simulator, demo_database, tmp_path_factory):
    return (*collect_demo(demo_database, tmp_path_factory, "home-page"), simulator.url)


@pytest.fixture
def app(demo, app_test):
    url, _engine, sim_url = demo
    return app_test(url, sim_url, now=FIXED_NOW)


def _home(app: AppTest):  # type: ignore[no-untyped-def]
    at = app.run()
    assert not at.exception, at.exception
    return at, next(df.value for df in at.dataframe if "Posture" in df.value.columns).set_index("Tenant id")


def _findings(engine) -> list[Finding]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return current_findings(conn, FIXED_NOW).findings


def test_every_tenant_has_its_score_in_words_with_the_band_its_number_falls_in(app):
    _, table = _home(app)
    assert len(table) >= 26
    scored = [SCORE_IN_WORDS.match(p) for p in table["Posture"] if p != "— (not scored)"]
    assert len(scored) >= 20 and all(scored)
    for match in scored:
        value, band = float(match[1]), match[2]
        assert band == next(name for low, name in SCORE_BANDS if value >= low)


def test_critical_failures_per_tenant_match_the_findings_and_sort_the_table(app, demo):
    _, engine, _ = demo
    _, table = _home(app)
    failing = [f for f in _findings(engine) if f.status == "fail" and f.severity == "critical"]
    for tenant_id, count in table["Critical failing"].items():
        assert count == sum(f.tenant_id == tenant_id for f in failing)
    assert list(table["Critical failing"]) == sorted(table["Critical failing"], reverse=True)  # worst first


def test_accepting_a_critical_finding_takes_it_out_of_the_count(app, demo):
    _, engine, _ = demo
    _, table = _home(app)
    finding = next(f for f in _findings(engine) if f.status == "fail" and f.severity == "critical")
    before = int(table.loc[finding.tenant_id, "Critical failing"])
    with write_transaction(engine) as conn:
        add_accepted_risk(
            conn,
            check_id=finding.check,
            tenant_id=finding.tenant_id,
            subject_id=finding.subject.id,
            subject_name=finding.subject.name,
            reason="home page test",
            accepted_by="op",
            accepted_at=FIXED_NOW - timedelta(hours=1),
            expires_at=FIXED_NOW + timedelta(days=30),
        )
    st.cache_data.clear()  # as ui.actions.accept_risk does (ui.data.forget_findings)
    at = app.run()
    after = next(df.value for df in at.dataframe if "Posture" in df.value.columns).set_index("Tenant id")
    assert int(after.loc[finding.tenant_id, "Critical failing"]) == before - 1


def test_blocked_sign_ins_are_the_last_24_hours_per_tenant(app, demo):
    _, engine, _ = demo
    _, table = _home(app)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(SignIn.tenant_id, func.count())
                .where(
                    SignIn.error_code.in_(BLOCKED_CODES), SignIn.created_at >= FIXED_NOW - timedelta(hours=24)
                )
                .where(SignIn.created_at < FIXED_NOW)
                .group_by(SignIn.tenant_id)
            ).all()
        )
    assert sum(stored.values()) > 0
    for tenant_id, count in table["Blocked sign-ins 24 h"].items():
        assert count == stored.get(tenant_id, 0), tenant_id


def test_mfa_capable_is_the_latest_recorded_share_per_tenant(app, demo):
    _, engine, _ = demo
    _, table = _home(app)
    with engine.connect() as conn:
        _, rows = mfa_coverage_latest(conn)
    assert rows
    for row in rows:
        if row.enabled_members:
            shown = table.loc[row.tenant_id, "MFA capable"]
            assert shown == pytest.approx(100 * row.mfa_capable / row.enabled_members, abs=0.05)


def test_each_tenant_links_to_its_sign_ins_posture_mfa_and_collectors(app):
    _, table = _home(app)
    for tenant_id, row in table.iterrows():
        assert row["signins_link"] == f"./signins?tenant={tenant_id}"
        assert row["posture_link"] == f"./posture?tenant={tenant_id}"
        assert row["mfa_link"] == f"./mfa?tenant={tenant_id}"
        assert row["collectors_link"] == f"./collectors?tenant={tenant_id}"


def test_the_filter_is_collapsed_and_the_results_come_first(app):
    at, _ = _home(app)
    assert [e.label for e in at.expander] == ["Filter tenants"]
    assert at.expander[0].proto.expanded is False


def test_an_mfa_link_opens_that_tenant_and_an_unknown_one_is_said(app):
    at, table = _home(app)
    tenant_id = next(t for t in table.index if table.loc[t, "MFA capable"] == table.loc[t, "MFA capable"])
    at = run_page(app, "pages/mfa.py", from_the_start=True, tenant=tenant_id)
    assert next(w for w in at.multiselect if w.label == "Tenants").value == [tenant_id]
    at = run_page(app, "pages/mfa.py", from_the_start=True, tenant="not-a-tenant")
    assert any("1 tenant(s) with no MFA coverage here" in w.value.replace("\\", "") for w in at.warning)
    assert next(w for w in at.multiselect if w.label == "Tenants").value == []


def test_a_collectors_link_lists_that_tenants_sources_and_an_unknown_one_is_said(app):
    _at, table = _home(app)
    tenant_id = table.index[0]
    at = run_page(app, "pages/collectors.py", from_the_start=True, tenant=tenant_id)
    sources = at.dataframe[0].value
    assert len(sources) > 1 and set(sources["Tenant"]) == {table.loc[tenant_id, "Tenant"]}
    at = run_page(app, "pages/collectors.py", from_the_start=True, tenant="not-a-tenant")
    assert any("1 tenant(s) not collected here" in w.value for w in at.warning)
    assert len({*at.dataframe[0].value["Tenant"]}) > 1
