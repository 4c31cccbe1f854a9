"""The Audit page and what reaches the audit log: each change as a diff (field: before → after), the
table read again after a rollback, and the dashboard's own changes — risks accepted and revoked, kiosk
links created and revoked — recorded with who, when and what, never a kiosk link's token."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db import open_database
from db.models import AuditRecord
from fixes import Actor, FixEngine
from fixes.audit import entries
from posture import Finding
from posture.findings import Subject
from settings import load_settings
from simulator import demo
from support import FIXED_NOW, collect_demo, run_page
from ui.auth import Identity

OPERATOR = Actor("alice@northwindmsp.onmicrosoft.com", ["Operator"])
D1 = "client-policy.exclude-service-provider"
PAGE = "pages/audit.py"


# --- the dashboard's own changes in the audit log (ui.actions) -----------------------------------------


@pytest.fixture
def acting(monkeypatch, db_url):  # type: ignore[no-untyped-def]
    """ui.actions on a fresh database, acting as an operator at FIXED_NOW."""
    import ui.actions
    import ui.data

    engine = open_database(db_url)
    operator = Identity("op@msp.example", ("Operator",), local_demo=False)
    monkeypatch.setattr(ui.actions, "require_operator", lambda: operator)
    monkeypatch.setattr(ui.data, "engine", lambda: engine)
    monkeypatch.setattr(ui.data, "utcnow", lambda: FIXED_NOW)
    return SimpleNamespace(actions=ui.actions, engine=engine)


def _finding() -> Finding:
    subject = Subject("apiClient", "c0ffee00-0000-4000-8000-000000000001", "Zapier (test)")
    return Finding("C-1", demo.MSP_TENANT_ID, "fail", "critical", subject, "open to any IP")


def _raw_records(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """Every stored column of every audit record, as text."""
    with engine.connect() as conn:
        rows = conn.execute(select(AuditRecord.__table__)).mappings().all()
    return [" ".join(str(value) for value in row.values()) for row in rows]


def test_accepting_a_risk_is_recorded_with_who_when_and_what(acting):
    expires = FIXED_NOW + timedelta(days=90)
    risk_id = acting.actions.accept_risk(_finding(), "Replaced in January", expires)
    [record] = entries(acting.engine)
    assert (record.fix_id, record.actor, record.at, record.tenant_id) == (
        "risk.accept",
        "op@msp.example",
        FIXED_NOW,
        demo.MSP_TENANT_ID,
    )
    assert (record.target_type, record.target_id, record.target_name) == (
        "acceptedRisk",
        str(risk_id),
        "C-1 · Zapier (test)",
    )
    assert record.before is None
    assert record.after["check"] == "C-1" and record.after["reason"] == "Replaced in January"
    assert record.after["expiresAt"] == f"{expires:%Y-%m-%dT%H:%M:%S}Z"
    assert record.rollback_refusal() is not None and "Posture page" in record.rollback_refusal()


def test_revoking_an_acceptance_is_recorded_and_a_second_revocation_is_not(acting):
    risk_id = acting.actions.accept_risk(_finding(), "Temporary", FIXED_NOW + timedelta(days=30))
    assert acting.actions.revoke_risk(risk_id)
    assert not acting.actions.revoke_risk(risk_id)  # already revoked: nothing changed, nothing recorded
    revoked, accepted = entries(acting.engine)
    assert (revoked.fix_id, accepted.fix_id) == ("risk.revoke", "risk.accept")
    assert revoked.before["reason"] == "Temporary" and revoked.before.get("revokedAt") is None
    assert revoked.after["revokedAt"] == f"{FIXED_NOW:%Y-%m-%dT%H:%M:%S}Z"


def test_creating_and_revoking_a_kiosk_link_is_recorded_without_its_token(acting):
    token = acting.actions.create_kiosk("NOC wall, left", timedelta(days=90))
    [created] = entries(acting.engine)
    link_id = int(created.target_id)
    assert acting.actions.revoke_kiosk(link_id)
    revoked, created = entries(acting.engine)
    assert (created.fix_id, created.target_name, created.actor) == (
        "kiosk-link.create",
        "NOC wall, left",
        "op@msp.example",
    )
    assert created.after["label"] == "NOC wall, left" and created.after["revokedAt"] is None
    assert (revoked.fix_id, revoked.target_id) == ("kiosk-link.revoke", str(link_id))
    assert revoked.after["revokedAt"] == f"{FIXED_NOW:%Y-%m-%dT%H:%M:%S}Z"
    from db.kiosk import kiosk_link

    with acting.engine.connect() as conn:
        digest = kiosk_link(conn, link_id).token_sha256
    for stored in _raw_records(acting.engine):
        assert token not in stored and digest not in stored  # neither the secret nor its hash


# --- the page ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def filled(simulator, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "auditpage")
    return url, simulator.url, engine


@pytest.fixture
def app(filled, app_test):
    url, sim_url, _ = filled
    return app_test(url, sim_url, timeout=120)


def _applied_d1(filled) -> int:  # type: ignore[no-untyped-def]
    """A D-1 fix applied through the engine (as the Posture page would), to a policy no earlier test
    fixed (the module's simulator keeps its state): its audit id."""
    url, sim_url, _ = filled
    engine = FixEngine(load_settings(database_url=url, simulator_url=sim_url), open_database(url))
    for offer in engine.offers():
        if offer.request.fix_id != D1:
            continue
        plan = engine.plan(offer.request)
        if plan.ready:
            outcome = engine.apply(plan, OPERATOR, acknowledge_warnings=True)
            assert outcome.outcome == "applied", outcome.message
            return int(outcome.audit_id)
    raise AssertionError("no D-1 fix left to apply")


def _frame(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    return next(df.value for df in at.dataframe if column in df.value.columns)


def _button(at: AppTest, prefix: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label.startswith(prefix))


def test_an_entry_is_shown_as_a_diff_of_the_fields_it_changed(app, filled):
    audit_id = _applied_d1(filled)
    at = run_page(app, PAGE, from_the_start=True, entry=str(audit_id))
    row = _frame(at, "What changed").set_index("#").loc[audit_id]
    assert "conditions.users.excludeGuestsOrExternalUsers" in row["What changed"]
    diff = _frame(at, "Field")
    assert list(diff.columns) == ["Field", "Before", "After"]
    changed = diff[diff["Field"].str.startswith("conditions.users.exclude")]
    added = changed[
        changed["After"].str.contains("serviceProvider") & ~changed["Before"].str.contains("serviceProvider")
    ]
    assert len(added) >= 1, diff.to_dict("records")


def test_a_rollback_asks_the_typed_word_names_the_finding_and_the_table_lists_it_after(app, filled):
    audit_id = _applied_d1(filled)
    at = run_page(app, PAGE, from_the_start=True, entry=str(audit_id))
    at = _button(at, "Plan rollback of").click().run()
    warnings = [w.value.replace("\\", "") for w in at.warning]  # as read: Markdown escapes dropped
    assert any(
        "re-creates the finding D-1 “Client policies exclude the MSP's people” (critical)" in w
        for w in warnings
    )
    roll_back = _button(at, "Roll back #")
    assert roll_back.disabled  # until the word is typed
    at = next(t for t in at.text_input if t.label == "Type APPLY to roll back").input("APPLY").run()
    at = _button(at, "Roll back #").click().run()
    assert not at.exception
    assert any(s.value.startswith("rolled-back") for s in at.success), [e.value for e in at.error]
    table = _frame(at, "What changed")
    undo = table[table["Undoes"] == audit_id]
    assert len(undo) == 1 and undo["Outcome"].iloc[0] == "rolled-back"  # the table was read after the write
    assert table.set_index("#").loc[audit_id, "Rolled back"] == "yes"


def test_an_unknown_entry_in_the_link_is_said(app, filled):
    _applied_d1(filled)
    at = run_page(app, PAGE, from_the_start=True, entry="not-a-number")
    assert any("There is no audit entry not" in w.value for w in at.warning)


def test_a_kiosk_link_created_on_its_page_appears_on_the_audit_page(app):
    at = run_page(app, "pages/kiosk_links.py")
    at.text_input[0].input("Audit wall")
    at = next(b for b in at.button if b.label == "Create link").click().run()
    token = at.code[0].value.rsplit("=", 1)[1]
    at.switch_page(PAGE).run()
    table = _frame(at, "What changed")
    created = table[table["Change"] == "kiosk-link.create"]
    assert "Audit wall" in set(created["Target"])
    assert not any(token in str(v) for v in table.to_numpy().ravel())
