"""The Blocked sign-ins page under AppTest, on the demo MSP collected at FIXED_NOW."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db.models import SignIn
from support import FIXED_NOW, collect_demo, run_page

PAGE = "pages/signins.py"


@pytest.fixture(scope="module")
def demo(simulator, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "signins-page")
    return url, simulator.url, engine


@pytest.fixture
def app(demo, app_test):
    url, sim_url, _ = demo
    return app_test(url, sim_url, now=FIXED_NOW)


def open_page(app: AppTest, **params: str) -> AppTest:
    return run_page(app, PAGE, **params)


def table(at: AppTest):  # type: ignore[no-untyped-def]
    return next(df.value for df in at.dataframe if "Why" in df.value.columns)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def blocked_service_provider(engine) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            select(SignIn.id, SignIn.tenant_id)
            .where(SignIn.error_code == 53003, SignIn.cross_tenant_access_type == "serviceProvider")
            .order_by(SignIn.created_at.desc())
            .limit(1)
        ).one()


def test_the_page_lists_failed_sign_ins_with_why_and_the_demo_marker(app):
    at = open_page(app)
    assert int(metric(at, "Failed sign-ins").replace(",", "")) > 0
    rows = table(at)
    assert len(rows) > 0 and (rows["Code"] != 0).all()
    assert {"Why", "Blocked by", "IP in a trusted location"} <= set(rows.columns)
    assert any("Demo data" in w.value for w in at.warning)


def test_a_url_with_filters_opens_the_page_already_filtered(app, demo):
    _sid, tenant_id = blocked_service_provider(demo[2])
    at = open_page(app, tenant=tenant_id, code="53003", period="7d")
    rows = table(at)
    assert len(rows) > 0
    assert set(rows["Code"]) == {53003}
    assert rows["Tenant"].nunique() == 1
    assert next(w for w in at.multiselect if w.label == "Tenants").value == [tenant_id]
    assert next(w for w in at.multiselect if w.label == "Error code").value == [53003]
    assert next(w for w in at.selectbox if w.label == "Time").value == "7d"


def test_changing_a_filter_puts_it_in_the_url(app):
    at = open_page(app)
    at.text_input(key="signins_f_user").input("alex").run()
    assert at.query_params["user"] == "alex"
    assert all("alex" in upn.lower() for upn in table(at)["User"])


def test_a_bad_value_in_the_url_is_named_and_ignored(app):
    at = open_page(app, ip="the office")
    assert any("the office" in w.value for w in at.warning)
    assert len(table(at)) > 0


def test_a_shared_sign_in_opens_with_its_explanation_raw_json_and_fix(app, demo):
    signin_id, _tenant = blocked_service_provider(demo[2])
    at = open_page(app, signin=signin_id, period="30d")
    why = next(m.value for m in at.markdown if m.value.startswith("**Why:**"))
    assert "blocked by" in why
    assert len(at.json) == 1 and at.json[0].value
    fix = next(m.value for m in at.markdown if m.value.startswith("**Fix offered:**"))
    assert "client-policy.exclude-service-provider" in fix
    assert any(link.label == "Open the Posture page" for link in at.get("page_link"))


def test_choosing_a_sign_in_explains_it(app):
    at = open_page(app)
    next(s for s in at.selectbox if s.label == "Explain sign-in").select_index(0).run()
    assert not at.exception
    assert any(m.value.startswith("**Why:**") for m in at.markdown)
    assert "signin" in at.query_params


def test_tenant_text_never_renders_as_markdown_or_html(app, demo):
    from sqlalchemy import update

    from db import write_transaction
    from db.models import Tenant

    signin_id, tenant_id = blocked_service_provider(demo[2])
    with write_transaction(demo[2]) as conn:
        conn.execute(
            update(Tenant)
            .where(Tenant.tenant_id == tenant_id)
            .values(display_name="**Evil** <img src=x onerror=alert(1)> [link](http://x)")
        )
    at = open_page(app, signin=signin_id, period="30d")
    header = next(m.value for m in at.markdown if " in **" in m.value)
    assert "\\*\\*Evil\\*\\*" in header and "\\<img" in header and "\\[link\\]" in header


def test_a_custom_period_in_the_url_sets_the_date_and_time_fields(app):
    at = open_page(app, period="custom", **{"from": "2026-11-21T06:00", "to": "2026-11-22T06:30"})
    assert [d.value.isoformat() for d in at.date_input] == ["2026-11-21", "2026-11-22"]
    assert [t.value.isoformat() for t in at.time_input] == ["06:00:00", "06:30:00"]
    assert at.query_params["from"] == "2026-11-21T06:00" and at.query_params["to"] == "2026-11-22T06:30"
