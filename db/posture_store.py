"""Storage of posture evaluations, their daily history, and accepted risks."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from db.models import AcceptedRiskRecord, PostureDaily, PostureEvaluation, PostureFinding

_DAILY_FIELDS = {"pass": "passed", "fail": "failed", "warn": "warned", "accepted": "accepted",
                 "n/a": "not_applicable"}


def store_evaluation(conn: Connection, *, evaluated_at: datetime, collected_at: datetime,
                     raw: list[dict[str, Any]], with_accepted: list[dict[str, Any]]) -> int:
    """Replace the latest findings with ``raw`` and fold ``with_accepted`` into today's history."""
    evaluation_id = conn.execute(insert(PostureEvaluation).values(
        evaluated_at=evaluated_at, collected_at=collected_at, findings=len(raw))).inserted_primary_key[0]
    conn.execute(delete(PostureFinding))
    if raw:
        conn.execute(insert(PostureFinding), [{
            "evaluation_id": evaluation_id, "tenant_id": f["tenantId"], "check_id": f["check"],
            "status": f["status"], "severity": f["severity"],
            "body": orjson.dumps(f).decode()} for f in raw])
    counts: Counter[tuple[str, str, str]] = Counter(
        (f["tenantId"], f["check"], f["status"]) for f in with_accepted)
    cells: dict[tuple[str, str], dict[str, int]] = {}
    for (tenant_id, check_id, status), n in counts.items():
        cell = cells.setdefault((tenant_id, check_id), dict.fromkeys(_DAILY_FIELDS.values(), 0))
        cell[_DAILY_FIELDS.get(status, "not_applicable")] += n
    day = evaluated_at.date()
    # The day's last evaluation wins: it is the posture "as of" that day.
    conn.execute(delete(PostureDaily).where(PostureDaily.day == day))
    if cells:
        conn.execute(insert(PostureDaily), [
            {"day": day, "tenant_id": t, "check_id": c, **cell} for (t, c), cell in cells.items()])
    return evaluation_id


def latest_findings(conn: Connection) -> tuple[datetime | None, list[dict[str, Any]]]:
    """(evaluated at, raw findings of the latest evaluation)."""
    evaluated_at = conn.execute(select(PostureEvaluation.evaluated_at)
                                .order_by(PostureEvaluation.id.desc()).limit(1)).scalar()
    rows = conn.execute(select(PostureFinding.body).order_by(PostureFinding.id)).scalars()
    return evaluated_at, [orjson.loads(body) for body in rows]


def daily_history(conn: Connection, since: date) -> list[dict[str, Any]]:
    rows = conn.execute(select(PostureDaily).where(PostureDaily.day >= since)
                        .order_by(PostureDaily.day)).mappings()
    return [dict(row) for row in rows]


def purge_history(conn: Connection, before: date) -> int:
    return conn.execute(delete(PostureDaily).where(PostureDaily.day < before)).rowcount or 0


def add_accepted_risk(conn: Connection, *, check_id: str, tenant_id: str, subject_id: str,
                      subject_name: str, reason: str, accepted_by: str, accepted_at: datetime,
                      expires_at: datetime) -> int:
    return conn.execute(insert(AcceptedRiskRecord).values(
        check_id=check_id, tenant_id=tenant_id, subject_id=subject_id, subject_name=subject_name,
        reason=reason, accepted_by=accepted_by, accepted_at=accepted_at,
        expires_at=expires_at)).inserted_primary_key[0]


def revoke_accepted_risk(conn: Connection, risk_id: int, revoked_by: str, revoked_at: datetime) -> bool:
    result = conn.execute(update(AcceptedRiskRecord)
                          .where(AcceptedRiskRecord.id == risk_id, AcceptedRiskRecord.revoked_at.is_(None))
                          .values(revoked_at=revoked_at, revoked_by=revoked_by))
    return bool(result.rowcount)


def accepted_risks(conn: Connection, include_revoked: bool = False) -> list[AcceptedRiskRecord]:
    query = select(AcceptedRiskRecord).order_by(AcceptedRiskRecord.expires_at.desc())
    if not include_revoked:
        query = query.where(AcceptedRiskRecord.revoked_at.is_(None))
    with Session(conn) as session:
        return list(session.scalars(query))
