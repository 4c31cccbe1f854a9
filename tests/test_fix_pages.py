"""Fixes from the dashboard (AppTest): plan → diff → apply → audit → rollback, and who may."""

from __future__ import annotations

import time

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from connectors.auth import StaticTokenCredential
from support import collect_demo


@pytest.fixture(scope="module")
def filled(simulator, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "fixpages")
    return url, simulator.url, engine


@pytest.fixture
def app(filled, app_test):
    url, sim_url, _ = filled
    return app_test(url, sim_url, timeout=120)


def _page(app: AppTest, path: str) -> AppTest:
    at = app.run()
    at.switch_page(path).run()
    assert not at.exception
    return at


def _button(at: AppTest, prefix: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label.startswith(prefix))


def _detail(at: AppTest):  # type: ignore[no-untyped-def]
    return next(w for w in at.selectbox if w.label == "Evidence and why it matters for")


def _choose(at: AppTest, label_prefix: str) -> AppTest:
    detail = _detail(at)
    index = next(i for i, label in enumerate(detail.options) if label.startswith(label_prefix))
    return detail.select_index(index).run()


def _graph_policy(sim_url: str, tenant_id: str, policy_id: str) -> dict:
    token = StaticTokenCredential(tenant_id).get_token().token
    for _ in range(10):  # the simulator throttles CA reads to 1/s per tenant, as Graph does
        response = httpx.get(
            f"{sim_url}/v1.0/identity/conditionalAccess/policies/{policy_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 429:
            break
        time.sleep(1.1)
    response.raise_for_status()
    return response.json()


def _excludes_service_providers(policy: dict) -> bool:
    excluded = policy["conditions"]["users"].get("excludeGuestsOrExternalUsers") or {}
    return "serviceprovider" in str(excluded.get("guestOrExternalUserTypes", "")).lower()


def test_operator_fixes_a_client_policy_from_posture_and_rolls_it_back(app, filled):
    _, sim_url, _ = filled
    at = _page(app, "pages/posture.py")
    at = _choose(at, "FAIL · D-1 ·")
    check_id, tenant_id, policy_id = _detail(at).value.split("|")
    assert check_id == "D-1"
    assert not _excludes_service_providers(_graph_policy(sim_url, tenant_id, policy_id))

    at = _button(at, "Plan fix: exclude the MSP's people from a client policy").click().run()
    assert not at.exception
    assert any("serviceProvider" in c.value for c in at.code)  # the diff
    # A plan widening who else is excluded warns (one exclusion object): the operator acknowledges it.
    ack = [c for c in at.checkbox if c.label.startswith("I have read the warnings")]
    if ack:
        at = ack[0].check().run()
    # Excluding people from an enforced policy opens access: the same typed word as a rollback.
    assert any("opens access" in w.value for w in at.warning)
    assert _button(at, "Apply fix:").disabled
    at = next(t for t in at.text_input if t.label == "Type APPLY to apply this fix").input("APPLY").run()
    at = _button(at, "Apply fix: exclude the MSP's people from a client policy").click().run()
    assert not at.exception
    assert any(s.value.startswith("applied") for s in at.success), [e.value for e in at.error]
    assert _excludes_service_providers(_graph_policy(sim_url, tenant_id, policy_id))

    # The audit page lists it; an operator rolls it back with a typed confirmation.
    at = _page(app, "pages/audit.py")
    table = at.dataframe[0].value
    entry_id = int(table[table["Change"] == "client-policy.exclude-service-provider"]["#"].iloc[0])
    at = at.selectbox[0].set_value(entry_id).run()
    at = _button(at, "Plan rollback").click().run()
    at = at.text_input[-1].input("APPLY").run()
    at = _button(at, "Roll back #").click().run()
    assert any(s.value.startswith("rolled-back") for s in at.success), [e.value for e in at.error]
    assert not _excludes_service_providers(_graph_policy(sim_url, tenant_id, policy_id))


def test_api_clients_page_shows_open_clients_and_validates_ranges_live(app):
    at = _page(app, "pages/api_clients.py")
    assert int(next(m.value for m in at.metric if m.label == "Open to any IP")) >= 1
    table = at.dataframe[0].value
    assert table["Open to any IP"].any()
    at = next(w for w in at.selectbox if w.label == "Client").select_index(0).run()
    at.text_area[0].input("10.0.0.0/8\n2001:db8::/0\nnot-an-ip").run()
    errors = " ".join(e.value for e in at.error)
    assert "not\\-an\\-ip" in errors or "not-an-ip" in errors


def test_two_fixes_on_one_page_have_buttons_named_by_their_fix(app):
    at = _page(app, "pages/api_clients.py")
    at = next(w for w in at.selectbox if w.label == "Client").select_index(0).run()
    plans = [b.label for b in at.button if b.label.startswith("Plan fix")]
    assert sorted(plans) == [
        "Plan fix: save the API configuration to Azure",
        "Plan fix: set an API client's IP ranges",
    ]


def test_a_viewer_sees_no_fix_buttons(app):
    app.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "microsoft": {
            "client_id": "a",
            "client_secret": "s",
            "server_metadata_url": "https://idp.example/.well-known/x",
        },
    }
    app.user = {"is_logged_in": True, "email": "viewer@msp.example", "roles": ["Viewer"]}
    at = _choose(_page(app, "pages/posture.py"), "FAIL · D-1 ·")
    assert not [b for b in at.button if b.label.startswith(("Plan fix", "Apply fix"))]
    assert any("Only an operator can run fixes" in c.value for c in at.caption)
