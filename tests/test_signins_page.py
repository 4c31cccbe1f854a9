"""The Blocked sign-ins page under AppTest, on the demo MSP collected at FIXED_NOW."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from db.models import SignIn, Tenant
from db.signin_raw import raw_json
from investigate.codes import BLOCKED_CODES, is_blocked
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


def shown(markdown: str) -> str:
    """Text as the reader sees it: plain() escapes Markdown with backslashes and word joiners."""
    return markdown.replace("\\", "").replace("\u2060", "")


def warned(at: AppTest, words: str) -> bool:
    return any(words in shown(w.value) for w in at.warning)


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


def count_in_window(engine, hours: int, codes=None) -> int:  # type: ignore[no-untyped-def]
    """Failed sign-ins of the demo in the last ``hours`` before FIXED_NOW (of ``codes``: any failure)."""
    query = select(func.count()).where(
        SignIn.error_code != 0,
        SignIn.created_at >= FIXED_NOW - timedelta(hours=hours),
        SignIn.created_at < FIXED_NOW,
    )
    if codes is not None:
        query = query.where(SignIn.error_code.in_(list(codes)))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_the_page_lists_blocked_sign_ins_with_why_and_the_demo_marker(app, demo):
    at = open_page(app)
    shown = int(metric(at, "Blocked sign-ins").replace(",", ""))
    assert shown == count_in_window(demo[2], 24, BLOCKED_CODES) > 0
    rows = table(at)
    assert len(rows) > 0 and all(is_blocked(int(code)) for code in rows["Code"])
    assert {"Why", "Blocked by", "IP in a trusted location"} <= set(rows.columns)
    assert any("Demo data" in w.value for w in at.warning)
    assert next(r for r in at.radio if r.label == "Count").value == "blocked"
    assert any("wrong or expired passwords" in c.value for c in at.caption)  # says what it counts


def test_all_failures_count_wrong_passwords_too(app, demo):
    at = open_page(app, failures="all")
    shown = int(metric(at, "Failed sign-ins").replace(",", ""))
    assert shown == count_in_window(demo[2], 24) > count_in_window(demo[2], 24, BLOCKED_CODES)
    assert not any(m.label == "Blocked sign-ins" for m in at.metric)


def test_choosing_all_failures_puts_it_in_the_url(app):
    at = open_page(app)
    next(r for r in at.radio if r.label == "Count").set_value("all").run()
    assert at.query_params["failures"] == "all"
    assert any(not is_blocked(int(code)) for code in table(at)["Code"])


def test_tenants_with_matches_are_counted_apart_from_tenants_searched(app, demo):
    with demo[2].connect() as conn:
        searched = conn.execute(select(func.count()).select_from(Tenant).where(Tenant.active)).scalar_one()
        matching = conn.execute(
            select(func.count(func.distinct(SignIn.tenant_id))).where(
                SignIn.error_code.in_(list(BLOCKED_CODES)),
                SignIn.created_at >= FIXED_NOW - timedelta(hours=24),
                SignIn.created_at < FIXED_NOW,
            )
        ).scalar_one()
    at = open_page(app)
    assert metric(at, "Tenants with matches") == f"{matching} of {searched}"
    assert matching < searched


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


def test_an_unknown_policy_in_the_url_is_warned_about_and_ignored(app):
    at = open_page(app, policy="no-such-policy")
    assert warned(at, "policy 'no-such-policy' blocked no sign-in in the last 30 days")
    assert next(s for s in at.selectbox if s.label == "Blocking CA policy").value == ""
    assert "policy" not in at.query_params
    assert len(table(at)) > 0


@pytest.mark.parametrize(
    ("param", "value", "words"),
    [
        ("code", "12345", "error code(s) 12345"),
        ("country", "ZZ", "country 'ZZ'"),
        ("failures", "some", "failures 'some'"),
    ],
)
def test_an_unknown_filter_value_in_the_url_gets_its_own_warning(app, param, value, words):
    at = open_page(app, **{param: value})
    assert warned(at, words), [w.value for w in at.warning]
    assert len(table(at)) > 0


def test_policy_options_name_their_tenant(app, demo):
    at = open_page(app)
    options = next(s for s in at.selectbox if s.label == "Blocking CA policy").options[1:]
    with demo[2].connect() as conn:
        names = {n for (n,) in conn.execute(select(Tenant.display_name))}
    assert options and len(set(options)) == len(options)
    assert all(" — " in o and o.rsplit(" — ", 1)[1] in names for o in options)
    mfa = [o for o in options if o.startswith("CA001: Require MFA for all users — ")]
    assert len(mfa) > 1


def test_no_matches_show_one_message_and_a_way_to_clear_the_filters(app):
    at = open_page(app, user="nobody-matches-this")
    assert any("match these filters" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")
    at.button(key="signins_f_clear_empty").click().run()
    assert not at.exception
    assert "user" not in at.query_params
    assert at.text_input(key="signins_f_user").value == ""
    assert len(table(at)) > 0


def test_a_one_hour_timeline_has_five_minute_bars_and_reads_in_minutes(app):
    at = open_page(app, period="1h")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    axis = spec["layout"]["xaxis"]
    assert axis["tickformat"] == "%H:%M"
    assert axis["range"] == ["2026-11-22T11:00:00", "2026-11-22T12:00:00"]
    centres = [datetime.fromisoformat(x) for trace in spec["data"] for x in trace["x"]]
    assert centres and all(c.minute % 5 == 2 and c.second == 30 for c in centres)
    assert {trace["width"] for trace in spec["data"]} == {0.9 * 5 * 60 * 1000}


def test_a_shared_sign_in_opens_with_its_explanation_raw_json_and_fix(app, demo):
    signin_id, tenant_id = blocked_service_provider(demo[2])
    at = open_page(app, signin=signin_id, period="30d")
    why = next(m.value for m in at.markdown if m.value.startswith("**Why:**"))
    assert "blocked by" in why
    assert len(at.json) == 1 and at.json[0].value
    fix = next(m.value for m in at.markdown if m.value.startswith("**Fix offered:**"))
    assert "client-policy.exclude-service-provider" in fix
    link = next(link for link in at.get("page_link") if link.label == "Open the Posture page")
    assert link.proto.query_string == f"check=D-1&tenant={tenant_id}"  # the link carries its context


def test_the_explanation_lists_every_policy_with_its_result_and_what_to_do(app, demo):
    signin_id, _tenant = blocked_service_provider(demo[2])
    with demo[2].connect() as conn:
        raw = json.loads(
            raw_json(conn, conn.execute(select(SignIn.raw).where(SignIn.id == signin_id)).scalar_one())
        )
    applied = raw["appliedConditionalAccessPolicies"]
    at = open_page(app, signin=signin_id, period="30d")
    policies = next(t.value for t in at.table if "What to do" in t.value.columns)
    assert len(policies) == len(applied) > 1
    assert {p["result"] for p in applied} > {"failure"}  # not only the failing ones
    words = {
        "failure": "Failure",
        "success": "Success",
        "notApplied": "Not applied",
        "notEnabled": "Disabled",
    }
    expected = sorted(words.get(p["result"], p["result"]) for p in applied if p["result"] in words)
    results = [shown(r) for r in policies["Result"]]
    assert sorted(r for r in results if not r.startswith("Report-only")) == expected
    assert results[0] == "Failure"
    assert all(len(todo) > 10 for todo in policies["What to do"])


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
    fields = {d.label: d.value for d in at.datetime_input}
    assert fields == {"From (UTC)": datetime(2026, 11, 21, 6, 0), "To (UTC)": datetime(2026, 11, 22, 6, 30)}
    assert at.query_params["from"] == "2026-11-21T06:00" and at.query_params["to"] == "2026-11-22T06:30"


def test_the_filters_sit_in_the_sidebar_so_a_phone_shows_results_first(app):
    at = open_page(app)
    in_sidebar = {w.label for w in [*at.sidebar.multiselect, *at.sidebar.selectbox, *at.sidebar.text_input]}
    assert {"Tenants", "Time", "Error code", "Blocking CA policy", "User (part of the UPN)"} <= in_sidebar
    assert not [w for w in at.main.multiselect if w.label == "Tenants"]
