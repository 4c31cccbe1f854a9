"""The Changes page (pages/changes.py) and the posture page's "caused by" panel, on a copy of the demo MSP
collected at FIXED_NOW to which a client admin's change is added: the collection that sees it, its
directory audit entry and the evaluation after it, through the product's own paths (db.store.replace_objects,
db.history, collectors.evaluate)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from collectors.evaluate import evaluate_and_store
from db import write_transaction
from db.history import attach_changes, store_directory_audits
from db.models import AuditRecord, PostureFinding
from db.queries import graph_objects
from db.store import replace_objects
from settings import load_settings
from simulator import audits
from support import FIXED_NOW, collect_demo, run_page

PAGE = "pages/changes.py"
POSTURE = "pages/posture.py"
POLICIES = "conditionalAccessPolicies"
TENANT = audits.drift_tenants(7)[0]
ADMIN = "pat.admin@client.example"
ADMIN_IP = "203.0.113.44"
CHANGED_AT = FIXED_NOW + timedelta(minutes=20)
SEEN_AT = FIXED_NOW + timedelta(minutes=30)
NOW = FIXED_NOW + timedelta(hours=1)
MARKUP_NAME = "**Pwn** [click](https://evil.example) <b>x</b>"
REMOVED = "serviceProvider removed"  # excluded guest/external types: ..., serviceProvider removed


def _excludes_service_providers(policy: dict[str, Any]) -> bool:
    excluded = ((policy.get("conditions") or {}).get("users") or {}).get("excludeGuestsOrExternalUsers") or {}
    return policy.get("state") == "enabled" and "serviceProvider" in str(
        excluded.get("guestOrExternalUserTypes")
    )


def _audit_entry(policy: dict[str, Any], upn: str) -> dict[str, Any]:
    return {
        "id": "audit-entry-1",
        "category": "Policy",
        "activityDisplayName": "Update conditional access policy",
        "activityDateTime": CHANGED_AT.isoformat() + "Z",
        "operationType": "Update",
        "result": "success",
        "initiatedBy": {"user": {"id": "u-admin", "userPrincipalName": upn, "ipAddress": ADMIN_IP}},
        "targetResources": [{"id": policy["id"], "displayName": policy["displayName"], "type": "Policy"}],
    }


def _drift(url: str, engine, rename: str | None = None, upn: str = ADMIN) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A client admin removes the service-provider exclusion from an enabled policy (optionally renaming
    it), a collection sees it, its audit entry is read and the posture is evaluated: the policy."""
    with engine.connect() as conn:
        policies = graph_objects(conn, TENANT, POLICIES)
    changed = copy.deepcopy(policies)
    policy = next(p for p in changed if _excludes_service_providers(p))
    policy["conditions"]["users"]["excludeGuestsOrExternalUsers"] = None
    if rename is not None:
        policy["displayName"] = rename
    with write_transaction(engine) as conn:
        replace_objects(conn, TENANT, POLICIES, changed, SEEN_AT)
        store_directory_audits(conn, TENANT, [_audit_entry(policy, upn)])
        attach_changes(conn, FIXED_NOW)
    evaluate_and_store(load_settings(database_url=url), engine, SEEN_AT + timedelta(minutes=1))
    return policy


@pytest.fixture(scope="module")
def drifted(demo_database, tmp_path_factory):  # type: ignore[no-untyped-def]
    url, engine = collect_demo(demo_database, tmp_path_factory, "changes")
    return url, _drift(url, engine)


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(t.value for t in at.text)


def test_a_change_is_listed_with_its_diff_who_and_ip(app_test, drifted):
    url, policy = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    rows = at.dataframe[0].value
    assert list(rows["Object"]) == [policy["displayName"]]
    assert list(rows["Who"]) == [ADMIN]
    assert list(rows["From IP"]) == [ADMIN_IP]
    assert REMOVED in rows["What changed"].iloc[0]


def test_the_change_detail_says_who_when_and_what(app_test, drifted):
    url, policy = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    shown = _texts(at)
    assert f"Who: {ADMIN}" in shown
    assert f"When: {CHANGED_AT:%Y-%m-%d %H:%M:%S} UTC" in shown
    assert f"From IP: {ADMIN_IP}" in shown
    assert REMOVED in shown


def test_the_change_names_the_finding_it_moved(app_test, drifted):
    url, policy = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    moved = next(d.value for d in at.dataframe if "Check" in d.value.columns)
    assert ("D-1", "pass", "fail") in set(zip(moved["Check"], moved["From"], moved["To"], strict=True))


def test_the_json_paths_are_shown_before_and_after(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    paths = next(d.value for d in at.dataframe if "Path" in d.value.columns)
    row = paths[paths["Path"] == "conditions.users.excludeGuestsOrExternalUsers.guestOrExternalUserTypes"]
    assert "serviceProvider" in row["Before"].iloc[0]
    assert row["After"].iloc[0] == "(none)"


def test_the_timeline_compares_two_versions(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    timeline = next(d.value for d in at.dataframe if "Version" in d.value.columns)
    assert list(timeline["Version"]) == [1, 2]
    assert at.selectbox(key="changes_from").value == 1
    assert at.selectbox(key="changes_to").value == 2
    at.selectbox(key="changes_from").set_value(2).run()
    assert any("same content" in c.value for c in at.caption)


def test_a_filter_on_another_tenant_leaves_nothing(app_test, drifted):
    url, _ = drifted
    other = next(t for t in audits.drift_tenants(7) if t != TENANT)
    at = run_page(app_test(url, now=NOW), PAGE, tenant=other)
    assert not at.dataframe
    assert any("No change matching the filters in the last 7 days" in i.value for i in at.info)


def test_a_filter_on_who_keeps_the_admins_change(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE, who="PAT.ADMIN")
    assert len(at.dataframe[0].value) == 1
    at = run_page(app_test(url, now=NOW), PAGE, who="someone.else")
    assert not at.dataframe


def test_a_filter_on_another_kind_leaves_nothing(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE, kind="namedLocations")
    assert not at.dataframe
    at = run_page(app_test(url, now=NOW), PAGE, kind=POLICIES)
    assert len(at.dataframe[0].value) == 1


def test_the_tenant_link_presets_the_filter(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE, tenant=TENANT)
    assert at.selectbox[1].value == TENANT
    assert len(at.dataframe[0].value) == 1


def test_a_change_older_than_the_range_is_not_listed(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW + timedelta(days=8)), PAGE)
    assert any("No change in the last 7 days" in i.value for i in at.info)
    assert any("History starts with the first collection" in i.value for i in at.info)


def test_the_linked_change_is_shown_even_outside_the_range(app_test, drifted):
    url, _ = drifted
    at = run_page(app_test(url, now=NOW), PAGE)
    version_id = at.query_params["change"]
    at = run_page(app_test(url, now=NOW + timedelta(days=8)), PAGE, change=version_id)
    assert f"Who: {ADMIN}" in _texts(at)


def test_the_baseline_alone_is_the_empty_state(app_test, demo_database, tmp_path_factory):
    url, _ = collect_demo(demo_database, tmp_path_factory, "changes-empty")
    at = run_page(app_test(url, now=NOW), PAGE)
    assert not at.dataframe
    assert any("No change in the last 7 days" in i.value for i in at.info)


def test_tenant_text_with_markup_stays_text(app_test, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "changes-markup")
    _drift(url, engine, rename=MARKUP_NAME, upn="[admin](https://evil.example)@x.example")
    at = run_page(app_test(url, now=NOW), PAGE)
    markdown = "\n".join(m.value for m in [*at.markdown, *at.subheader])
    assert "](https://evil.example)" not in markdown
    assert "<b>" not in markdown
    assert "Who: [admin](https://evil.example)@x.example" in _texts(at)
    assert MARKUP_NAME in list(at.dataframe[0].value["Object"])


# --- the posture page: a regressed finding names its change ----------------------------------------------


def _regressed_key(url: str) -> str:
    from db import open_database

    with open_database(url).connect() as conn:
        for body in conn.execute(
            select(PostureFinding.body).where(PostureFinding.status == "fail")
        ).scalars():
            finding = orjson.loads(body)
            if finding.get("change") and finding["check"] == "D-1":
                return f"{finding['check']}|{finding['tenantId']}|{finding['subject']['id']}"
    raise AssertionError("no regressed D-1 finding")


def test_a_regressed_finding_on_the_posture_page_says_what_changed_it(app_test, drifted):
    url, policy = drifted
    at = run_page(app_test(url, now=NOW), POSTURE)
    at.selectbox(key="posture_detail").set_value(_regressed_key(url)).run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert f"Changed by: {ADMIN} from {ADMIN_IP}" in shown
    assert REMOVED in shown
    assert [link.proto.page for link in at.get("page_link") if "Changes page" in link.proto.label]


def test_a_regression_made_by_perimeters_fix_offers_its_rollback(app_test, demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "changes-fix")
    with write_transaction(engine) as conn:
        policies = graph_objects(conn, TENANT, POLICIES)
        target = next(p for p in policies if _excludes_service_providers(p))
        fix_id = conn.execute(
            AuditRecord.__table__.insert().values(
                at=CHANGED_AT,
                actor="alice@msp.example",
                fix_id="client-policy.exclude-service-provider",
                tenant_id=TENANT,
                target_type="policy",
                target_id=target["id"],
                target_name=target["displayName"],
                outcome="applied",
                message="test",
                before="{}",
                after="{}",
                requests="[]",
            )
        ).inserted_primary_key[0]
    _drift(url, engine, upn=ADMIN)
    at = run_page(app_test(url, now=NOW), POSTURE)
    at.selectbox(key="posture_detail").set_value(_regressed_key(url)).run()
    assert not at.exception, at.exception
    assert "Changed by: Perimeter (operator alice@msp.example)" in _texts(at)
    links = [link for link in at.get("page_link") if f"#{fix_id}" in link.proto.label]
    assert links and "rollback" in links[0].proto.label.lower()
