"""Accepted risks: apply_accepted turns covered failing/warning findings into `accepted` until expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posture_fixtures import MSP_ID

from db.posture_store import load_accepted
from posture import AcceptedRisk, Finding, Subject, apply_accepted

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _finding(status: str = "fail", subject_id: str = "203.0.113.5/24", check: str = "C-2") -> Finding:
    return Finding(
        check=check,
        tenant_id=MSP_ID,
        status=status,
        severity="high",
        subject=Subject("range", subject_id, subject_id),
        message="host bits set",
        evidence={"range": subject_id},
        fix="api-client.set-ranges",
    )


def _risk(expires: datetime = NOW + timedelta(days=30), **overrides) -> AcceptedRisk:
    fields = {
        "check": "C-2",
        "tenant_id": MSP_ID,
        "subject_id": "203.0.113.5/24",
        "reason": "partner NAT",
        "accepted_by": "megan@msp.example",
        "expires_at": expires,
        "accepted_at": NOW - timedelta(days=1),
    }
    fields.update(overrides)
    return AcceptedRisk(**fields)


def test_a_covered_failing_finding_becomes_accepted_with_the_acceptance_in_evidence():
    [finding] = apply_accepted([_finding()], [_risk()], NOW)
    assert finding.status == "accepted"
    assert finding.evidence == {
        "range": "203.0.113.5/24",
        "acceptedFrom": "fail",
        "acceptedReason": "partner NAT",
        "acceptedBy": "megan@msp.example",
        "acceptedAt": "2026-11-21T12:00:00+00:00",
        "acceptedExpires": "2026-12-22T12:00:00+00:00",
    }
    assert finding.fix == "api-client.set-ranges"


def test_a_warning_can_be_accepted():
    assert apply_accepted([_finding("warn")], [_risk()], NOW)[0].evidence["acceptedFrom"] == "warn"


def test_an_expired_acceptance_changes_nothing():
    original = _finding()
    assert apply_accepted([original], [_risk(expires=NOW)], NOW) == [original]


def test_passing_and_na_findings_are_never_accepted():
    findings = [_finding("pass"), _finding("n/a")]
    assert apply_accepted(findings, [_risk()], NOW) == findings


def test_the_acceptance_must_match_check_tenant_and_subject():
    findings = [_finding(subject_id="198.51.100.7/24"), _finding(check="C-1")]
    assert apply_accepted(findings, [_risk(), _risk(tenant_id="other")], NOW) == findings


def test_ids_match_case_insensitively():
    [finding] = apply_accepted(
        [_finding(subject_id="2001:DB8:0:0:0:0:0:1/64")],
        [_risk(subject_id="2001:db8:0:0:0:0:0:1/64", tenant_id=MSP_ID.upper())],
        NOW,
    )
    assert finding.status == "accepted"


def test_naive_datetimes_are_utc():
    [finding] = apply_accepted(
        [_finding()], [_risk(expires=datetime(2026, 11, 22, 13, 0))], datetime(2026, 11, 22, 12, 30)
    )
    assert finding.status == "accepted"


def test_the_latest_expiring_acceptance_wins():
    later = NOW + timedelta(days=90)
    [finding] = apply_accepted([_finding()], [_risk(), _risk(expires=later, reason="renewed")], NOW)
    assert finding.evidence["acceptedReason"] == "renewed"


def test_a_fresh_database_accepts_nothing(engine):
    with engine.connect() as conn:
        assert load_accepted(conn) == []
