"""Scores, the tenant × check matrix, daily history and accepted risks in storage."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from db import write_transaction
from db.posture_store import (
    add_accepted_risk,
    current_findings,
    daily_history,
    load_accepted,
    purge_history,
    revoke_accepted_risk,
    store_evaluation,
)
from posture import Finding, Subject, apply_accepted
from posture.html_report import render_html_report
from posture.scoring import score, score_band, score_in_words, weighted_score, worst_status
from posture.summary import daily_scores, matrix, tenant_scores

NOW = datetime(2026, 11, 22, 12, 0)


def _finding(
    check: str,
    status: str,
    severity: str = "critical",
    tenant: str = "t1",
    subject: str = "p1",
    name: str = "Policy one",
) -> Finding:
    return Finding(
        check=check,
        tenant_id=tenant,
        status=status,
        severity=severity,
        subject=Subject("policy", subject, name),
        message=f"{check} {status}",
        evidence={"x": 1},
        fix="client-policy.exclude-service-provider" if status == "fail" else None,
    )


def test_score_weights_severity_and_leaves_out_not_applicable():
    findings = [
        _finding("D-1", "pass", "critical"),
        _finding("MFA-1", "fail", "high"),
        _finding("LOC-2", "n/a", "medium"),
    ]
    assert score(findings) == pytest.approx(100 * 4 / 7, abs=0.1)


def test_warn_and_accepted_earn_half_credit():
    assert weighted_score([("high", "warn", 1)]) == 50.0
    assert weighted_score([("high", "accepted", 2)]) == 50.0


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (100.0, "good"),
        (90.0, "good"),
        (89.9, "fair"),
        (75.0, "fair"),
        (60.0, "poor"),
        (49.9, "critical"),
        (0.0, "critical"),
    ],
)
def test_score_band_names_the_band_a_score_falls_in(value, band):
    assert score_band(value) == band


def test_score_in_words_gives_the_score_and_its_band():
    assert score_in_words(78.44) == "78.4 / 100 — fair"
    assert score_in_words(None) == "— (not scored)"


def test_score_of_nothing_applicable_is_none():
    assert score([_finding("D-1", "n/a")]) is None


def test_worst_status_orders_fail_warn_accepted_pass_na():
    assert worst_status(["pass", "warn", "n/a"]) == "warn"
    assert worst_status(["accepted", "pass"]) == "accepted"
    assert worst_status(["pass", "fail", "warn"]) == "fail"


def test_matrix_cell_shows_the_worst_subject_and_counts():
    cells = matrix([_finding("D-1", "pass", subject="a"), _finding("D-1", "fail", subject="b")])
    cell = cells[("t1", "D-1")]
    assert cell.worst == "fail" and cell.counts == {"pass": 1, "fail": 1}


def _accepted(engine):
    with engine.connect() as conn:
        return load_accepted(conn)


def test_tenant_scores_are_per_tenant():
    scores = tenant_scores([_finding("D-1", "pass", tenant="a"), _finding("D-1", "fail", tenant="b")])
    assert scores == {"a": 100.0, "b": 0.0}


def test_an_evaluation_replaces_the_latest_findings_and_records_the_day(engine):
    first = [_finding("D-1", "fail").as_dict()]
    second = [_finding("D-1", "pass").as_dict(), _finding("MFA-1", "warn", "high").as_dict()]
    with write_transaction(engine) as conn:
        store_evaluation(conn, evaluated_at=NOW, collected_at=NOW, raw=first, with_accepted=first)
        store_evaluation(
            conn, evaluated_at=NOW + timedelta(hours=1), collected_at=NOW, raw=second, with_accepted=second
        )
    with engine.connect() as conn:
        current = current_findings(conn, NOW)
        history = daily_history(conn, date(2026, 11, 1))
    assert current.evaluated_at == NOW + timedelta(hours=1)
    assert [f.status for f in current.findings] == ["pass", "warn"]
    # One row per tenant and check for the day: the day's last evaluation wins.
    assert {(r["check_id"], r["passed"], r["failed"], r["warned"]) for r in history} == {
        ("D-1", 1, 0, 0),
        ("MFA-1", 0, 0, 1),
    }


def test_stored_findings_keep_their_data_age_and_staleness(engine):
    from dataclasses import replace

    dated = replace(
        _finding("D-1", "fail"), data_as_of="2026-11-22T08:00:00Z", stale_since="2026-11-22T11:30:00Z"
    )
    with write_transaction(engine) as conn:
        store_evaluation(
            conn, evaluated_at=NOW, collected_at=NOW, raw=[dated.as_dict()], with_accepted=[dated.as_dict()]
        )
    with engine.connect() as conn:
        [stored] = current_findings(conn, NOW).findings
    assert stored == dated
    assert [f.stale_since for f in apply_accepted([dated], [], NOW)] == ["2026-11-22T11:30:00Z"]


def test_history_keeps_one_row_set_per_day_and_purges_old_days(engine):
    rows = [_finding("D-1", "fail").as_dict()]
    with write_transaction(engine) as conn:
        for days_ago in (400, 2, 1):
            store_evaluation(
                conn,
                evaluated_at=NOW - timedelta(days=days_ago),
                collected_at=NOW,
                raw=rows,
                with_accepted=rows,
            )
        purged = purge_history(conn, (NOW - timedelta(days=366)).date())
    assert purged == 1
    with engine.connect() as conn:
        days = {r["day"] for r in daily_history(conn, date(2020, 1, 1))}
    assert days == {(NOW - timedelta(days=2)).date(), (NOW - timedelta(days=1)).date()}


def test_daily_scores_use_catalogue_severities():
    rows = [
        {
            "day": date(2026, 11, 21),
            "tenant_id": "t1",
            "check_id": "D-1",
            "passed": 1,
            "failed": 1,
            "warned": 0,
            "accepted": 0,
            "not_applicable": 3,
        }
    ]
    overall, per_tenant = daily_scores(rows)
    assert overall[date(2026, 11, 21)] == 50.0
    assert per_tenant[(date(2026, 11, 21), "t1")] == 50.0


def test_stored_acceptance_turns_the_finding_accepted_until_revoked(engine):
    failing = _finding("D-1", "fail")
    with write_transaction(engine) as conn:
        risk_id = add_accepted_risk(
            conn,
            check_id="D-1",
            tenant_id="t1",
            subject_id="p1",
            subject_name="Policy one",
            reason="vendor fixes it in Q1",
            accepted_by="op@msp.example",
            accepted_at=NOW,
            expires_at=NOW + timedelta(days=30),
        )
    [accepted] = apply_accepted([failing], _accepted(engine), NOW)
    assert accepted.status == "accepted"
    assert accepted.evidence["acceptedBy"] == "op@msp.example"
    assert accepted.evidence["acceptedFrom"] == "fail"
    with write_transaction(engine) as conn:
        assert revoke_accepted_risk(conn, risk_id, "op@msp.example", NOW)
    [again] = apply_accepted([failing], _accepted(engine), NOW)
    assert again.status == "fail"


def test_an_expired_acceptance_no_longer_applies(engine):
    with write_transaction(engine) as conn:
        add_accepted_risk(
            conn,
            check_id="D-1",
            tenant_id="t1",
            subject_id="p1",
            subject_name="",
            reason="r",
            accepted_by="op",
            accepted_at=NOW - timedelta(days=40),
            expires_at=NOW - timedelta(days=10),
        )
    [finding] = apply_accepted([_finding("D-1", "fail")], _accepted(engine), NOW)
    assert finding.status == "fail"


def test_html_report_escapes_tenant_supplied_text():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    html = render_html_report([_finding("D-1", "fail", name=evil)], {"t1": evil}, NOW)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Overall score" in html and "Why it matters" in html


def test_html_report_of_demo_data_says_so():
    findings = [_finding("D-1", "fail")]
    assert "Demo data" in render_html_report(findings, {}, NOW, demo=True)
    assert "Demo data" not in render_html_report(findings, {}, NOW)
