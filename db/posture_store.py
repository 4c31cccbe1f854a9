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

from db.models import AcceptedRiskRecord, PostureDaily, PostureEvaluation, PostureFinding
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
    evaluation records what it rests on (``data_up_to``, ``sources_failing``)."""
    evaluation_id = conn.execute(
        insert(PostureEvaluation).values(
            evaluated_at=evaluated_at,
            collected_at=collected_at,
            findings=len(raw),
            data_up_to=data_up_to,
            sources_failing=sources_failing,
        )
    ).inserted_primary_key[0]
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


def daily_history(conn: Connection, since: date) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(PostureDaily).where(PostureDaily.day >= since).order_by(PostureDaily.day)
    ).mappings()
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
    raw = [Finding.from_dict(orjson.loads(body)) for body in conn.execute(query).scalars()]
    findings = apply_accepted(raw, load_accepted(conn), now)
    if statuses:
        findings = [f for f in findings if f.status in statuses]
    return CurrentFindings(evaluated_at, findings, data_up_to, sources_failing)
