"""Dashboard pages with Streamlit's AppTest (no browser), on a database filled by the collectors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from db import write_transaction
from db.models import CollectRequest
from db.queries import signin_counts_by_tenant
from support import collect_demo


@pytest.fixture(scope="module")
def filled_db(simulator, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "dash")
    return url, simulator.url, engine


@pytest.fixture
def app(filled_db, app_test):
    url, sim_url, _ = filled_db
    return app_test(url, sim_url)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [t.value for t in at.title] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _sidebar_texts(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.sidebar.caption)


def test_tenants_page_lists_every_tenant_with_demo_marker(app):
    at = app.run()
    assert not at.exception
    assert "Demo data" in _texts(at)
    assert "DEMO DATA" in _sidebar_texts(at)
    table = at.dataframe[0].value
    assert len(table) >= 26
    assert {"Tenant", "Access mode", "Posture", "Freshness"} <= set(table.columns)
    assert set(table["Access mode"]) >= {"gdap", "direct"}


def test_tenants_page_filter_narrows_the_list(app):
    at = app.run()
    first = at.dataframe[0].value["Tenant"].iloc[1]
    at.text_input[0].input(first).run()
    names = list(at.dataframe[0].value["Tenant"])
    assert first in names and len(names) < 26


def test_collectors_page_shows_sources_and_demo_marker(app):
    at = app.run()
    at.switch_page("pages/collectors.py").run()
    assert not at.exception
    assert "Demo data" in _texts(at)
    table = at.dataframe[0].value
    assert {"signIns", "conditionalAccessPolicies"} <= set(table["Source"])
    assert not (table["State"] == "failing").any()


def test_collectors_page_counts_each_tenants_stored_signins_on_its_signin_row(app, filled_db):
    *_, engine = filled_db
    with engine.connect() as conn:
        stored = signin_counts_by_tenant(conn)
    at = app.run()
    at.switch_page("pages/collectors.py").run()
    table = at.dataframe[0].value
    signin_rows = table[table["Source"] == "signIns"]
    assert sum(signin_rows["Sign-ins stored"]) == sum(stored.values()) > 0
    assert table[table["Source"] != "signIns"]["Sign-ins stored"].isna().all()


def test_collect_now_queues_a_request_for_the_worker(app, filled_db):
    *_, engine = filled_db
    at = app.run()
    at.switch_page("pages/collectors.py").run()
    button = next(b for b in at.button if b.label == "Collect now")
    button.click().run()
    assert not at.exception
    with engine.connect() as conn:
        pending = conn.execute(select(CollectRequest).where(CollectRequest.done_at.is_(None))).all()
    assert len(pending) == 1
    assert any("Collection requested" in i.value for i in at.info)


def test_a_viewer_may_ask_for_a_collection_and_is_recorded_as_the_requester(app, filled_db):
    *_, engine = filled_db
    with write_transaction(engine) as conn:  # nothing queued by an earlier test
        conn.execute(update(CollectRequest).values(done_at=datetime(2026, 11, 22)))
    at = _signed_in(app, ["Viewer"]).run()
    at.switch_page("pages/collectors.py").run()
    next(b for b in at.button if b.label == "Collect now").click().run()
    assert not at.exception
    with engine.connect() as conn:
        [pending] = conn.execute(select(CollectRequest).where(CollectRequest.done_at.is_(None))).all()
    assert pending.requested_by == "tech@msp.example"


def test_a_bad_setting_shows_one_line_instead_of_a_traceback(monkeypatch, app_test):
    monkeypatch.setenv("PERIMETER_RETENTION_DAYS", "forever")
    at = app_test("sqlite:///:memory:").run()
    assert not at.exception
    assert "PERIMETER_RETENTION_DAYS" in at.error[0].value


def _posture(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page("pages/posture.py").run()
    assert not at.exception
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_posture_page_shows_scores_matrix_and_findings(app):
    at = _posture(app)
    assert float(_metric(at, "Overall score")) > 0
    assert int(_metric(at, "Failing findings")) > 0
    assert len(at.get("plotly_chart")) >= 1
    findings = at.dataframe[0].value
    assert {"fail", "warn"} <= set(findings["Status"])
    assert set(findings["Check"]) >= {"D-1", "C-1"}


def test_posture_filters_narrow_the_findings(app):
    at = _posture(app)
    part = next(w for w in at.multiselect if w.label == "Part")
    part.select("C").run()
    assert set(at.dataframe[0].value["Check"]) <= {"C-1", "C-2", "C-3"}


def test_a_link_with_check_and_tenant_opens_the_posture_page_filtered(app, filled_db):
    from db.queries import active_tenants
    from support import run_page

    *_, engine = filled_db
    with engine.connect() as conn:
        tenant = next(t for t in active_tenants(conn) if t.display_name == "Trey Research")
    at = run_page(app, "pages/posture.py", check="D-1", tenant=tenant.tenant_id)
    shown = at.dataframe[0].value
    assert set(shown["Check"]) == {"D-1"} and len(shown) >= 1
    assert next(w for w in at.multiselect if w.label == "Check").value == ["D-1"]


def test_an_unknown_check_in_the_link_is_said_and_ignored(app):
    from support import run_page

    at = run_page(app, "pages/posture.py", check="Z-9")
    assert any("unknown check (Z" in w.value for w in at.warning)  # the value shown as plain text
    assert len(set(at.dataframe[0].value["Check"])) > 1


def test_the_trend_with_one_day_says_it_is_the_first_point(app):
    at = _posture(app)
    assert any(i.value.startswith("First point: ") for i in at.info)  # the demo has one evaluated day


def _choose_failing(at: AppTest, check: str) -> AppTest:
    detail = next(w for w in at.selectbox if w.label == "Evidence and why it matters for")
    option = next(o for o in detail.options if o.startswith(f"FAIL · {check} ·"))
    return detail.select(option).run()


def test_operator_accepts_a_risk_with_reason_and_expiry(app, filled_db):
    *_, engine = filled_db
    at = _posture(app)
    before = int(_metric(at, "Accepted risks"))
    at = _choose_failing(at, "C-1")
    assert any("Why it matters" in m.value for m in at.markdown)
    reason = next(t for t in at.text_area if t.label == "Reason (required)")
    reason.input("Legacy integration, replaced in January")
    next(b for b in at.button if b.label == "Accept risk").click().run()
    assert not at.exception
    assert int(_metric(at, "Accepted risks")) == before + 1
    from db.posture_store import accepted_risks

    with engine.connect() as conn:
        [risk] = [r for r in accepted_risks(conn) if r.reason.startswith("Legacy integration")]
    assert risk.check_id == "C-1" and risk.accepted_by == "local operator (demo mode)"
    assert risk.expires_at > risk.accepted_at


def test_a_findings_detail_says_when_its_data_was_collected(app):
    at = _choose_failing(_posture(app), "C-1")
    assert not at.exception
    assert any(str(c.value).startswith("Data as of ") for c in at.caption), _texts(at)


def test_accepting_without_a_reason_is_refused(app):
    at = _choose_failing(_posture(app), "D-1")
    next(b for b in at.button if b.label == "Accept risk").click().run()
    assert any("Give a reason" in e.value for e in at.error)


AUTH_SECRETS = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "microsoft": {
        "client_id": "app",
        "client_secret": "s",
        "server_metadata_url": "https://login.example/.well-known/openid-configuration",
    },
}


def _signed_in(app: AppTest, roles: list[str] | None) -> AppTest:
    app.secrets["auth"] = AUTH_SECRETS
    app.user = {
        "is_logged_in": True,
        "email": "tech@msp.example",
        "name": "Tech",
        **({"roles": roles} if roles is not None else {}),
    }
    return app


def test_signed_out_users_see_only_the_sign_in_button(app):
    app.secrets["auth"] = AUTH_SECRETS
    app.user = {"is_logged_in": False}
    at = app.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in with Microsoft"]
    assert not at.dataframe


def test_a_signed_in_user_without_a_role_is_refused(app):
    at = _signed_in(app, []).run()
    assert "no Perimeter role" in at.error[0].value
    assert not at.dataframe


def test_a_viewer_reads_but_cannot_accept_a_risk(app):
    at = _choose_failing(_posture(_signed_in(app, ["Viewer"])), "D-1")
    assert not [b for b in at.button if b.label == "Accept risk"]
    assert any("Only an operator" in c.value for c in at.caption)


def test_an_operator_role_from_the_token_may_accept(app):
    at = _choose_failing(_posture(_signed_in(app, ["Operator"])), "D-1")
    assert [b for b in at.button if b.label == "Accept risk"]


def test_without_sign_in_a_non_loopback_dashboard_refuses_to_serve(app, monkeypatch):
    import ui.auth

    monkeypatch.setattr(ui.auth, "bind_address", lambda: "0.0.0.0")
    at = app.run()
    assert "Sign-in is required: the dashboard listens on 0.0.0.0" in at.error[0].value
    assert not at.dataframe
    with pytest.raises(PermissionError):
        ui.auth.require_operator()


def test_while_a_source_fails_every_page_says_so_and_it_is_not_fresh(
    simulator, demo_database, tmp_path_factory, app_test
):
    from db.queries import active_tenants
    from db.store import record_run
    from support import FIXED_NOW

    url, engine = collect_demo(demo_database, tmp_path_factory, "dash-outage")
    with engine.connect() as conn:
        client = next(t.tenant_id for t in active_tenants(conn) if t.role == "client")
    failed_at = FIXED_NOW + timedelta(minutes=1)  # after the demo's collection
    with write_transaction(engine) as conn:
        record_run(
            conn,
            cycle_id="outage",
            tenant_id=client,
            source="signIns",
            started_at=failed_at,
            finished_at=failed_at,
            rows=0,
            error="ConnectError: [Errno 111] Connection refused",
        )
    for page in ("pages/tenants.py", "pages/posture.py", "pages/signins.py", "pages/wall.py"):
        at = app_test(url, simulator.url, now=FIXED_NOW).run()
        if page != "pages/tenants.py":
            at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        banners = [e.value for e in at.error if "failing" in e.value]
        assert banners and "1 source(s) of 1 tenant(s) failing" in banners[0], page
    at = app_test(url, simulator.url, now=FIXED_NOW).run()
    at.switch_page("pages/collectors.py").run()
    failing_fresh = [r for r in at.dataframe[0].value.to_dict("records") if r.get("State") == "failing"]
    assert failing_fresh, "the failing source is listed as failing, not fresh"
