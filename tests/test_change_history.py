"""Configuration versions, their diffs, who made them, and the findings they moved (issue 16): the
storage half (db.history, the replace_objects hook, store_evaluation's transitions) and the pure diff
(investigate.diff). Storage tests run on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from db import write_transaction
from db.history import (
    attach_changes,
    changes,
    finding_transitions,
    object_timeline,
    purge_change_history,
    store_directory_audits,
    version_diff,
)
from db.models import AuditRecord, FindingTransition, ObjectVersion, PostureFinding
from db.posture_store import current_findings, store_evaluation
from db.store import replace_objects
from investigate.diff import content_hash, diff, diff_words

T0 = datetime(2026, 11, 22, 12, 0)
TENANT = "11111111-2222-3333-4444-555555555555"
POLICIES = "conditionalAccessPolicies"
LOCATIONS = "namedLocations"
POLICY_ID = "0a1b2c3d-0000-4000-8000-00000000000a"
ADMIN = "pat.admin@contoso.example"


def _policy(**changes: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "id": POLICY_ID,
        "displayName": "CA001 Require MFA",
        "state": "enabled",
        "modifiedDateTime": "2026-11-01T10:00:00Z",
        "conditions": {
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": ["u-1", "u-2"],
                "excludeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "internalGuest,serviceProvider",
                    "externalTenants": {
                        "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                        "membershipKind": "all",
                    },
                },
            },
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }
    policy.update(changes)
    return policy


def _without_service_providers() -> dict[str, Any]:
    policy = _policy(modifiedDateTime="2026-11-22T12:02:00Z")
    policy["conditions"]["users"]["excludeGuestsOrExternalUsers"]["guestOrExternalUserTypes"] = (
        "internalGuest"
    )
    return policy


def _collect(engine, objects: list[Any], at: datetime, kind: str = POLICIES, tenant: str = TENANT) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        replace_objects(conn, tenant, kind, copy.deepcopy(objects), at)


def _versions(engine, object_id: str = POLICY_ID) -> list[Any]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(ObjectVersion)
                .where(ObjectVersion.object_id == object_id)
                .order_by(ObjectVersion.version)
            ).all()
        )


def _audit_entry(entry_id: str, at: datetime, target: str = POLICY_ID, upn: str = ADMIN) -> dict[str, Any]:
    return {
        "id": entry_id,
        "category": "Policy",
        "activityDisplayName": "Update conditional access policy",
        "activityDateTime": at.isoformat() + "Z",
        "operationType": "Update",
        "result": "success",
        "initiatedBy": {"user": {"id": "u-9", "userPrincipalName": upn, "ipAddress": "198.51.100.7"}},
        "targetResources": [{"id": target.upper(), "displayName": "CA001 Require MFA", "type": "Policy"}],
    }


def _finding(status: str, subject_id: str = POLICY_ID, check: str = "D-1") -> dict[str, Any]:
    return {
        "check": check,
        "tenantId": TENANT,
        "status": status,
        "severity": "critical",
        "subject": {"type": "policy", "id": subject_id, "name": "CA001 Require MFA"},
        "message": f"{check} {status}",
        "evidence": {},
        "fix": None,
    }


def _evaluate(engine, at: datetime, findings: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        store_evaluation(conn, evaluated_at=at, collected_at=at, raw=findings, with_accepted=findings)


# --- versions ---


def test_a_content_change_makes_one_version(engine):
    _collect(engine, [_policy()], T0)
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    assert [v.version for v in _versions(engine)] == [1, 2]


def test_an_identical_recollection_makes_no_version(engine):
    _collect(engine, [_policy()], T0)
    _collect(engine, [_policy()], T0 + timedelta(minutes=5))
    assert len(_versions(engine)) == 1


def test_volatile_fields_and_order_make_no_version(engine):
    _collect(engine, [_policy()], T0)
    reread = _policy(modifiedDateTime="2026-11-22T12:03:00Z", **{"@odata.etag": "W/2"})
    reread["conditions"]["users"]["excludeUsers"] = ["u-2", "u-1"]
    reread["conditions"]["users"]["excludeGuestsOrExternalUsers"]["guestOrExternalUserTypes"] = (
        "serviceProvider,internalGuest"
    )
    _collect(engine, [reread], T0 + timedelta(minutes=5))
    assert len(_versions(engine)) == 1


def test_a_deleted_object_gets_a_deletion_version(engine):
    _collect(engine, [_policy()], T0)
    _collect(engine, [], T0 + timedelta(minutes=5))
    _collect(engine, [], T0 + timedelta(minutes=10))
    versions = _versions(engine)
    assert [(v.version, v.body is None) for v in versions] == [(1, False), (2, True)]


def test_a_kind_that_is_not_configuration_has_no_versions(engine):
    _collect(engine, [{"id": "u-1", "userPrincipalName": "a@b"}], T0, kind="users")
    assert _versions(engine, "u-1") == []


# --- diff words ---


def test_the_diff_names_an_exclusion_removed():
    assert diff_words(diff(_policy(), _without_service_providers())) == [
        "excluded guest/external types: serviceProvider removed"
    ]


def test_the_diff_names_a_state_change_in_the_posture_pages_words():
    before = _policy(state="enabledForReportingButNotEnforced")
    assert diff_words(diff(before, _policy())) == ["state: report-only → on"]


def test_the_diff_names_a_range_added_by_its_cidr():
    range_type = "#microsoft.graph.iPv4CidrRange"
    before = {"id": "loc", "ipRanges": [{"@odata.type": range_type, "cidrAddress": "203.0.113.0/24"}]}
    after = copy.deepcopy(before)
    after["ipRanges"].append({"@odata.type": range_type, "cidrAddress": "0.0.0.0/0"})
    assert diff_words(diff(before, after)) == ["ranges: 0.0.0.0/0 added"]


def test_the_diff_ignores_volatile_fields_and_id_order():
    reread = _policy(modifiedDateTime="2026-12-01T00:00:00Z")
    reread["conditions"]["users"]["excludeUsers"] = ["u-2", "u-1"]
    assert diff(_policy(), reread) == []
    assert content_hash(_policy()) == content_hash(reread)


def test_the_diff_keeps_the_json_path_and_values():
    [line] = diff(_policy(), _without_service_providers())
    assert line.path == "conditions.users.excludeGuestsOrExternalUsers.guestOrExternalUserTypes"
    assert (line.before, line.after) == ("internalGuest,serviceProvider", "internalGuest")


# --- who made it ---


def test_an_audit_entry_attaches_to_the_version_it_produced(engine):
    _collect(engine, [_policy()], T0)
    with write_transaction(engine) as conn:
        store_directory_audits(
            conn,
            TENANT,
            [
                _audit_entry("before-baseline", T0 - timedelta(hours=1)),
                _audit_entry("the-change", T0 + timedelta(minutes=2)),
                _audit_entry("other-object", T0 + timedelta(minutes=3), target="another-policy"),
            ],
        )
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    with write_transaction(engine) as conn:
        assert attach_changes(conn, T0 - timedelta(days=1)) == 1
        [change] = changes(conn, T0)
    assert change.version == 2
    assert (change.who, change.who_type, change.from_ip) == (ADMIN, "user", "198.51.100.7")
    assert change.changed_at == T0 + timedelta(minutes=2)
    assert diff_words(change.diff) == ["excluded guest/external types: serviceProvider removed"]


def test_a_fix_audit_record_attaches_and_names_the_operator(engine):
    _collect(engine, [_without_service_providers()], T0)
    with write_transaction(engine) as conn:
        fix_id = conn.execute(
            insert(AuditRecord).values(
                at=T0 + timedelta(minutes=1),
                actor="alice@northwindmsp.example",
                tenant_id=TENANT,
                fix_id="client-policy.exclude-service-provider",
                target_type="policy",
                target_id=POLICY_ID,
                outcome="applied",
            )
        ).inserted_primary_key[0]
    _collect(engine, [_policy()], T0 + timedelta(minutes=5))
    with write_transaction(engine) as conn:
        attach_changes(conn, T0 - timedelta(days=1))
        [change] = changes(conn, T0)
    assert change.fix_audit_id == fix_id
    assert (change.who, change.who_type) == ("Perimeter (operator alice@northwindmsp.example)", "perimeter")


def test_the_baseline_collection_is_not_a_change(engine):
    _collect(engine, [_policy()], T0)
    with engine.connect() as conn:
        assert changes(conn, T0 - timedelta(days=1)) == []


def test_a_policy_created_after_the_baseline_is_a_change(engine):
    _collect(engine, [_policy()], T0)
    created = _policy(id="new-policy", displayName="CA009 New")
    _collect(engine, [_policy(), created], T0 + timedelta(minutes=5))
    with engine.connect() as conn:
        [change] = changes(conn, T0 - timedelta(days=1))
    assert (change.object_id, diff_words(change.diff)) == ("new-policy", ["created: CA009 New"])


def test_the_timeline_diffs_consecutive_versions(engine):
    _collect(engine, [_policy(state="enabledForReportingButNotEnforced")], T0)
    _collect(engine, [_policy()], T0 + timedelta(minutes=5))
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=10))
    with engine.connect() as conn:
        timeline = object_timeline(conn, TENANT, POLICIES, POLICY_ID)
        first, last = timeline[0].version_id, timeline[-1].version_id
        across = diff_words(version_diff(conn, first, last))
    assert [diff_words(v.diff) for v in timeline] == [
        [],
        ["state: report-only → on"],
        ["excluded guest/external types: serviceProvider removed"],
    ]
    assert across == ["excluded guest/external types: serviceProvider removed", "state: report-only → on"]


# --- retention ---


def test_retention_drops_old_versions_but_keeps_each_objects_latest(engine):
    location = {"id": "loc-1", "displayName": "Office", "ipRanges": []}
    _collect(engine, [location], T0 - timedelta(days=500), kind=LOCATIONS)
    _collect(engine, [_policy(state="disabled")], T0 - timedelta(days=500))
    _collect(engine, [_policy()], T0 - timedelta(days=450))
    _collect(engine, [_without_service_providers()], T0)
    with write_transaction(engine) as conn:
        purge_change_history(conn, T0 - timedelta(days=400))
    assert [v.version for v in _versions(engine)] == [3]
    assert [v.version for v in _versions(engine, "loc-1")] == [1]


# --- findings moved ---


def test_the_first_evaluation_writes_no_transitions(engine):
    _evaluate(engine, T0, [_finding("fail")])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FindingTransition)).scalar() == 0


def test_pass_to_fail_writes_a_transition_with_its_cause(engine):
    _collect(engine, [_policy()], T0)
    _evaluate(engine, T0, [_finding("pass")])
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    _evaluate(engine, T0 + timedelta(minutes=6), [_finding("fail")])
    with engine.connect() as conn:
        [moved] = finding_transitions(conn, T0)
    [version] = [v for v in _versions(engine) if v.version == 2]
    assert (moved.from_status, moved.to_status, moved.cause_version_id) == ("pass", "fail", version.id)
    assert moved.cause is not None and moved.cause.object_id == POLICY_ID


def test_the_regressed_finding_names_its_change_in_its_json(engine):
    _collect(engine, [_policy()], T0)
    _evaluate(engine, T0, [_finding("pass")])
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    _evaluate(engine, T0 + timedelta(minutes=6), [_finding("fail")])
    with engine.connect() as conn:
        body = json.loads(conn.execute(select(PostureFinding.body)).scalar_one())
    assert body["change"]["objectId"] == POLICY_ID
    assert body["change"]["diff"] == ["excluded guest/external types: serviceProvider removed"]


def test_a_finding_that_appears_or_disappears_is_a_transition(engine):
    _evaluate(engine, T0, [_finding("pass", subject_id="old")])
    _evaluate(engine, T0 + timedelta(minutes=5), [_finding("pass", subject_id="new")])
    with engine.connect() as conn:
        moved = {(t.subject_id, t.from_status, t.to_status) for t in finding_transitions(conn, T0)}
    assert moved == {("new", "new", "pass"), ("old", "pass", "gone")}


def test_a_change_lists_the_findings_it_moved(engine):
    _collect(engine, [_policy()], T0)
    _evaluate(engine, T0, [_finding("pass")])
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    _evaluate(engine, T0 + timedelta(minutes=6), [_finding("fail")])
    with engine.connect() as conn:
        [change] = changes(conn, T0)
    assert [(t.check_id, t.to_status) for t in change.moved] == [("D-1", "fail")]


def test_changes_filter_by_part_of_who_made_them(engine):
    _collect(engine, [_policy()], T0)
    with write_transaction(engine) as conn:
        store_directory_audits(conn, TENANT, [_audit_entry("the-change", T0 + timedelta(minutes=2))])
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    with write_transaction(engine) as conn:
        attach_changes(conn, T0 - timedelta(days=1))
        found = [len(changes(conn, T0, who=who)) for who in ("PAT.ADMIN", "someone-else")]
    assert found == [1, 0]


def test_the_first_object_of_a_kind_that_was_empty_is_a_change(engine):
    _collect(engine, [_policy()], T0)
    _collect(engine, [], T0 + timedelta(seconds=5), kind=LOCATIONS)
    office = {"id": "loc-1", "displayName": "Office", "ipRanges": []}
    _collect(engine, [office], T0 + timedelta(minutes=5), kind=LOCATIONS)
    with engine.connect() as conn:
        [change] = changes(conn, T0 - timedelta(days=1))
    assert (change.object_id, diff_words(change.diff)) == ("loc-1", ["created: Office"])


def test_every_kind_of_a_tenants_first_collection_is_its_baseline(engine):
    _collect(engine, [_policy()], T0)
    _collect(engine, [{"id": "loc-1", "displayName": "Office"}], T0 + timedelta(seconds=5), kind=LOCATIONS)
    with engine.connect() as conn:
        assert changes(conn, T0 - timedelta(days=1)) == []


def test_the_current_findings_json_names_the_change(engine):
    _collect(engine, [_policy()], T0)
    _evaluate(engine, T0, [_finding("pass")])
    _collect(engine, [_without_service_providers()], T0 + timedelta(minutes=5))
    _evaluate(engine, T0 + timedelta(minutes=6), [_finding("fail")])
    with engine.connect() as conn:
        [finding] = current_findings(conn, T0 + timedelta(minutes=7)).findings
    assert finding.as_dict()["change"]["diff"] == ["excluded guest/external types: serviceProvider removed"]


def test_a_policy_created_long_after_the_baseline_is_a_change_in_a_recent_range(engine):
    _collect(engine, [_policy()], T0 - timedelta(days=30))
    created = _policy(id="new-policy", displayName="CA009 New")
    _collect(engine, [_policy(), created], T0)
    with engine.connect() as conn:
        [change] = changes(conn, T0 - timedelta(days=7))
    assert change.object_id == "new-policy"
