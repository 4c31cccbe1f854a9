"""The MFA coverage page under AppTest, on the demo MSP collected (and evaluated) at FIXED_NOW."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from support import FIXED_NOW, collect_demo, run_page

PAGE = "pages/mfa.py"


@pytest.fixture(scope="module")
def demo(simulator, demo_database, tmp_path_factory):
    url, _engine = collect_demo(demo_database, tmp_path_factory, "mfa-page")
    return url, simulator.url


@pytest.fixture
def app(demo, app_test):
    return app_test(*demo, now=FIXED_NOW)


def open_page(app: AppTest, **params: str) -> AppTest:
    return run_page(app, PAGE, **params)


def frame(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_coverage_is_shown_per_tenant_with_how_mfa_is_enforced(app):
    at = open_page(app)
    tenants = frame(at, "MFA enforced by")
    assert len(tenants) == 23  # 26 but two without Entra ID P1 and one not consented (no registrations)
    assert {"security defaults", "Conditional Access"} <= set(tenants["MFA enforced by"])
    assert next(m.value for m in at.metric if m.label == "MFA capable").endswith("%")
    assert any("Demo data" in w.value for w in at.warning)


def test_admins_who_are_not_mfa_capable_are_listed(app):
    at = open_page(app)
    assert int(next(m.value for m in at.metric if m.label == "Admins not MFA capable")) > 0
    assert len(frame(at, "Admin")) > 0


def test_users_by_registered_method_and_the_service_accounts_evidence_are_shown(app):
    at = open_page(app)
    subheaders = [s.value for s in at.subheader]
    assert "Users by registered method" in subheaders
    assert "The CIPP service account's MFA evidence" in subheaders
    assert any(m.value.startswith("B-8") for m in [*at.success, *at.error, *at.info])
    assert len(frame(at, "Authentication requirement")) > 0


def test_a_tenant_in_the_url_narrows_the_page(app):
    at = open_page(app, tenant="4f4e31f0-e773-47c1-a231-9b911d163077")
    assert len(frame(at, "MFA enforced by")) == 1
    assert next(w for w in at.multiselect if w.label == "Tenants").value == [
        "4f4e31f0-e773-47c1-a231-9b911d163077"
    ]


def test_the_method_chart_shows_method_names_with_their_user_counts(app):
    import json

    at = open_page(app)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bar = next(s["data"][0] for s in specs if "Authenticator (push)" in s["data"][0].get("y", []))
    names, counts = bar["y"], bar["x"]
    assert all(len(n) > 1 for n in names)  # method names, never the characters of a JSON string
    assert sum(counts) > 1000  # users across the demo's tenants, not character counts
