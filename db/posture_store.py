"""Storage of posture evaluations, their daily history, and accepted risks: every read and write of the
posture tables, and the one service that answers "the current findings" (``current_findings``) for
every page, CLI, fix and the worker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from db.history import cause_of, changes_by_id, regression_causes
from db.models import (
    AcceptedRiskRecord,
    FindingTransition,
    PostureDaily,
    PostureEvaluation,
    PostureFinding,
)
from db.rows import cyclic_gc_paused
from posture.accepted import AcceptedRisk, apply_accepted
from posture.findings import ACCEPTED, ACTIONABLE, Finding

_DAILY_FIELDS = {
    "pass": "passed",
    "fail": "failed",
    "warn": "warned",
    "accepted": "accepted",
    "n/a": "not_applicable",
}


def store_evaluation(
    conn: Connection,
    *,
    evaluated_at: datetime,
    collected_at: datetime,
    raw: list[dict[str, Any]],
    with_accepted: list[dict[str, Any]],
    data_up_to: datetime | None = None,
    sources_failing: int | None = None,
) -> int:
    """Replace the latest findings with ``raw`` and fold ``with_accepted`` into today's history; the
    evaluation records what it rests on (``data_up_to``, ``sources_failing``). Every finding whose
    status changed since the previous evaluation is recorded (``record_transitions``)."""
    evaluation_id = conn.execute(
        insert(PostureEvaluation).values(
            evaluated_at=evaluated_at,
            collected_at=collected_at,
            findings=len(raw),
            data_up_to=data_up_to,
            sources_failing=sources_failing,
        )
    ).inserted_primary_key[0]
    raw = record_transitions(conn, evaluation_id, evaluated_at, raw)
    conn.execute(delete(PostureFinding))
    if raw:
        conn.execute(
            insert(PostureFinding),
            [
                {
                    "evaluation_id": evaluation_id,
                    "tenant_id": f["tenantId"],
                    "check_id": f["check"],
                    "status": f["status"],
                    "severity": f["severity"],
                    "body": orjson.dumps(f).decode(),
                }
                for f in raw
            ],
        )
    counts: Counter[tuple[str, str, str]] = Counter(
        (f["tenantId"], f["check"], f["status"]) for f in with_accepted
    )
    cells: dict[tuple[str, str], dict[str, int]] = {}
    for (tenant_id, check_id, status), n in counts.items():
        cell = cells.setdefault((tenant_id, check_id), dict.fromkeys(_DAILY_FIELDS.values(), 0))
        cell[_DAILY_FIELDS.get(status, "not_applicable")] += n
    day = evaluated_at.date()
    # The day's last evaluation wins: it is the posture "as of" that day.
    conn.execute(delete(PostureDaily).where(PostureDaily.day == day))
    if cells:
        conn.execute(
            insert(PostureDaily),
            [{"day": day, "tenant_id": t, "check_id": c, **cell} for (t, c), cell in cells.items()],
        )
    return evaluation_id


FindingKey = tuple[str, str, str, str]  # tenant, check, subject type, subject id
NEW, GONE = "new", "gone"  # a transition's from status when it did not exist, to status when it is gone


def record_transitions(
    conn: Connection, evaluation_id: int, evaluated_at: datetime, raw: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Compare the stored (previous) findings with ``raw`` and write a finding_transitions row for every
    (tenant, check, subject) whose status changed, 'new' and 'gone' included; nothing on the first
    evaluation (every finding would be new). A transition to fail or warn names the configuration
    version seen since the previous evaluation judged to have caused it (db.history.cause_of).

    Returns ``raw`` with the key ``change`` (db.history.ChangeRow.as_dict) on each finding that regressed
    now, or kept from the previous evaluation while it stays in the same actionable status."""
    previous_at = conn.execute(
        select(PostureEvaluation.evaluated_at)
        .where(PostureEvaluation.id < evaluation_id)
        .order_by(PostureEvaluation.id.desc())
        .limit(1)
    ).scalar()
    if previous_at is None:
        return raw
    before = {
        _finding_key(f): f for f in map(orjson.loads, conn.execute(select(PostureFinding.body)).scalars())
    }
    after = {_finding_key(f): f for f in raw}
    causes = regression_causes(conn, previous_at, evaluated_at)
    changed: list[tuple[FindingKey, dict[str, Any]]] = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        from_status = old["status"] if old else NEW
        to_status = new["status"] if new else GONE
        if from_status == to_status:
            continue
        cause = cause_of(causes, key[0], key[2], key[3]) if regressed(from_status, to_status) else None
        changed.append(
            (key, _transition(evaluation_id, evaluated_at, key, from_status, to_status, new or old, cause))
        )
    described = changes_by_id(
        conn, (row["cause_version_id"] for _, row in changed if row["cause_version_id"])
    )
    blame = {
        key: described[row["cause_version_id"]].as_dict()
        for key, row in changed
        if row["cause_version_id"] in described
    }
    for key, row in changed:
        if key in blame:
            row["body"] = orjson.dumps({**orjson.loads(row["body"]), "change": blame[key]}).decode()
    if changed:
        conn.execute(insert(FindingTransition), [row for _, row in changed])
    out = []
    for finding in raw:
        key = _finding_key(finding)
        old = before.get(key)
        if key in blame:
            finding = {**finding, "change": blame[key]}
        elif old and old.get("change") and old["status"] == finding["status"] and old["status"] in ACTIONABLE:
            finding = {**finding, "change": old["change"]}  # still the same regression
        out.append(finding)
    return out


def regressed(from_status: str, to_status: str) -> bool:
    """Whether a status change is a regression: to fail or warn from anything better, or warn to fail."""
    if to_status not in ACTIONABLE:
        return False
    return from_status not in ACTIONABLE or (from_status, to_status) == ("warn", "fail")


def _finding_key(finding: dict[str, Any]) -> FindingKey:
    subject = finding.get("subject") or {}
    return (
        str(finding.get("tenantId", "")),
        str(finding.get("check", "")),
        str(subject.get("type", "")),
        str(subject.get("id", "")),
    )


def _transition(
    evaluation_id: int,
    at: datetime,
    key: FindingKey,
    from_status: str,
    to_status: str,
    finding: dict[str, Any],
    cause: int | None,
) -> dict[str, Any]:
    tenant_id, check_id, subject_type, subject_id = key
    return {
        "evaluation_id": evaluation_id,
        "at": at,
        "tenant_id": tenant_id[:64],
        "check_id": check_id[:16],
        "subject_type": subject_type[:32],
        "subject_id": subject_id[:512],
        "subject_name": str((finding.get("subject") or {}).get("name", ""))[:512],
        "severity": str(finding.get("severity", ""))[:16],
        "from_status": from_status,
        "to_status": to_status,
        "body": orjson.dumps(finding).decode(),
        "cause_version_id": cause,
    }


def daily_history(conn: Connection, since: date) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(PostureDaily).where(PostureDaily.day >= since).order_by(PostureDaily.day)
    ).mappings()
    with cyclic_gc_paused():  # a row per tenant, check and day: 500 tenants are ~14,000 a day
        return [dict(row) for row in rows]


def purge_history(conn: Connection, before: date) -> int:
    return conn.execute(delete(PostureDaily).where(PostureDaily.day < before)).rowcount or 0


def add_accepted_risk(
    conn: Connection,
    *,
    check_id: str,
    tenant_id: str,
    subject_id: str,
    subject_name: str,
    reason: str,
    accepted_by: str,
    accepted_at: datetime,
    expires_at: datetime,
) -> int:
    return conn.execute(
        insert(AcceptedRiskRecord).values(
            check_id=check_id,
            tenant_id=tenant_id,
            subject_id=subject_id,
            subject_name=subject_name,
            reason=reason,
            accepted_by=accepted_by,
            accepted_at=accepted_at,
            expires_at=expires_at,
        )
    ).inserted_primary_key[0]


def revoke_accepted_risk(conn: Connection, risk_id: int, revoked_by: str, revoked_at: datetime) -> bool:
    result = conn.execute(
        update(AcceptedRiskRecord)
        .where(AcceptedRiskRecord.id == risk_id, AcceptedRiskRecord.revoked_at.is_(None))
        .values(revoked_at=revoked_at, revoked_by=revoked_by)
    )
    return bool(result.rowcount)


def accepted_risks(conn: Connection, include_revoked: bool = False) -> list[AcceptedRiskRecord]:
    query = select(AcceptedRiskRecord).order_by(AcceptedRiskRecord.expires_at.desc())
    if not include_revoked:
        query = query.where(AcceptedRiskRecord.revoked_at.is_(None))
    with Session(conn) as session:
        return list(session.scalars(query))


def load_accepted(conn: Connection) -> list[AcceptedRisk]:
    """Every unrevoked acceptance (expired ones included: apply_accepted ignores those)."""
    return [
        AcceptedRisk(
            check=r.check_id,
            tenant_id=r.tenant_id,
            subject_id=r.subject_id,
            reason=r.reason,
            accepted_by=r.accepted_by,
            expires_at=r.expires_at,
            accepted_at=r.accepted_at,
        )
        for r in accepted_risks(conn)
    ]


@dataclass(frozen=True)
class CurrentFindings:
    evaluated_at: datetime | None  # None: never evaluated
    findings: list[Finding]
    data_up_to: datetime | None = None  # what the evaluation rests on (None: not recorded)
    sources_failing: int | None = None

    def basis_words(self) -> str:
        """'Evaluated 2026-12-02 02:44 UTC on data up to 02:41 UTC, 26 sources failing'."""
        if self.evaluated_at is None:
            return "Not evaluated yet"
        words = f"Evaluated {self.evaluated_at:%Y-%m-%d %H:%M} UTC"
        if self.data_up_to is not None:
            same_day = self.data_up_to.date() == self.evaluated_at.date()
            words += (
                f" on data up to {self.data_up_to:%H:%M}"
                if same_day
                else f" on data up to {self.data_up_to:%Y-%m-%d %H:%M}"
            )
            words += " UTC"
        if self.sources_failing:
            words += f", {self.sources_failing} source(s) failing"
        return words


def current_findings(
    conn: Connection,
    now: datetime,
    *,
    checks: Sequence[str] = (),
    statuses: Sequence[str] = (),
    severity: str | None = None,
) -> CurrentFindings:
    """The latest evaluation's findings with the accepted risks applied at ``now``: what every page, CLI,
    fix and the wall call "the findings". ``statuses`` filter after the acceptances are applied (a failing
    finding that is accepted is no longer "fail"); ``checks`` and ``severity`` narrow the read."""
    latest = conn.execute(
        select(
            PostureEvaluation.evaluated_at, PostureEvaluation.data_up_to, PostureEvaluation.sources_failing
        )
        .order_by(PostureEvaluation.id.desc())
        .limit(1)
    ).first()
    evaluated_at, data_up_to, sources_failing = latest if latest is not None else (None, None, None)
    query = select(PostureFinding.body).order_by(PostureFinding.id)
    if checks:
        query = query.where(PostureFinding.check_id.in_(list(checks)))
    if severity:
        query = query.where(PostureFinding.severity == severity)
    if statuses:  # stored findings are raw: an accepted one is stored as the fail or warn it was
        stored = set(statuses) - {ACCEPTED} | (set(ACTIONABLE) if ACCEPTED in statuses else set())
        query = query.where(PostureFinding.status.in_(sorted(stored)))
    bodies = conn.execute(query).scalars().all()
    with cyclic_gc_paused():  # 500 tenants: ~4,000 findings, ~100,000 new objects; no cycles among them
        raw = [Finding.from_dict(orjson.loads(body)) for body in bodies]
    findings = apply_accepted(raw, load_accepted(conn), now)
    if statuses:
        findings = [f for f in findings if f.status in statuses]
    return CurrentFindings(evaluated_at, findings, data_up_to, sources_failing)


def regression_versions_of_findings(conn: Connection) -> dict[FindingKey, int]:
    """(tenant, check, subject type, subject id) -> the object version each current regressed finding
    names as its cause (the ``change`` key :func:`record_transitions` writes; only fail and warn
    findings carry one)."""
    out: dict[FindingKey, int] = {}
    bodies = conn.execute(select(PostureFinding.body).where(PostureFinding.status.in_(ACTIONABLE))).scalars()
    for body in bodies:
        finding = orjson.loads(body)
        blamed = finding.get("change")
        if isinstance(blamed, dict) and isinstance(blamed.get("versionId"), int):
            out[_finding_key(finding)] = blamed["versionId"]
    return out
