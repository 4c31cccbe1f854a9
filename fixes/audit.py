"""The audit log (table audit_log): append-only. Records are inserted and read, never updated or
deleted; a rollback is a new record whose ``rollback_of`` points at the record it undoes.

:meth:`AuditEntry.rollback_refusal` is the one place that says why a record cannot be rolled back as
far as the records tell (the engine adds only "the target changed since", which needs a read); the
engine's rollback refusal, the Audit page and ``python -m fixes list --audit`` all use it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from db import write_transaction
from db.models import AuditRecord
from fixes.graph_json import same
from fixes.model import CONFLICT, FAILED, REFUSED, ROLLED_BACK, SAVE_IRREVERSIBLE

UNDONE = (ROLLED_BACK, CONFLICT)  # outcomes of a rollback record that did undo its record


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    tenant_id: str
    fix_id: str
    target_type: str
    target_id: str
    target_name: str
    outcome: str
    message: str
    before: Any
    after: Any
    requests: list[dict[str, Any]]
    rollback_of: int | None

    @property
    def changed_something(self) -> bool:
        """Whether the target reads differently after this record's writes (what a rollback undoes)."""
        return self.outcome != REFUSED and bool(self.requests) and not same(self.before, self.after)

    def rollback_refusal(self, rolled_back_by: int | None = None) -> str | None:
        """Why this record cannot be rolled back (None: it can, as far as the records tell; the engine
        still refuses when the target changed since). ``rolled_back_by``: the id of the record that
        already undid it, if any (:func:`rollbacks_of`)."""
        if self.outcome == REFUSED or not self.requests:
            return f"#{self.id} ({self.outcome}) changed nothing, so there is nothing to roll back"
        if self.outcome == FAILED and self.after is None:
            return (
                f"#{self.id} failed and '{self.target_name}' could not be read back either, so its state "
                "after the write is unknown: re-read it and fix it by hand"
            )
        if same(self.before, self.after):
            return f"#{self.id} ({self.outcome}) changed nothing, so there is nothing to roll back"
        if rolled_back_by is not None:
            return f"#{self.id} was already rolled back by #{rolled_back_by}"
        if self.target_type == "azureConfiguration":
            return SAVE_IRREVERSIBLE
        if self.requests[0].get("method") == "DELETE":
            return (
                f"#{self.id} deleted '{self.target_name}', which a rollback cannot recreate: apply the "
                "fix again instead"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(timespec="seconds") + "Z",
            "actor": self.actor,
            "tenantId": self.tenant_id,
            "fix": self.fix_id,
            "target": {"type": self.target_type, "id": self.target_id, "name": self.target_name},
            "outcome": self.outcome,
            "message": self.message,
            "before": self.before,
            "after": self.after,
            "requests": self.requests,
            "rollbackOf": self.rollback_of,
        }


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def append(
    db: Engine,
    *,
    at: datetime,
    actor: str,
    tenant_id: str,
    fix_id: str,
    target_type: str,
    target_id: str,
    target_name: str,
    outcome: str,
    message: str,
    before: Any,
    after: Any,
    requests: list[dict[str, Any]],
    rollback_of: int | None,
) -> int:
    with write_transaction(db) as conn:
        return conn.execute(
            insert(AuditRecord).values(
                at=at,
                actor=actor[:256],
                tenant_id=tenant_id,
                fix_id=fix_id,
                target_type=target_type,
                target_id=target_id,
                target_name=target_name[:512],
                outcome=outcome,
                message=message,
                before=_json(before),
                after=_json(after),
                requests=_json(requests),
                rollback_of=rollback_of,
            )
        ).inserted_primary_key[0]


def _entry(row: AuditRecord) -> AuditEntry:
    return AuditEntry(
        row.id,
        row.at,
        row.actor,
        row.tenant_id,
        row.fix_id,
        row.target_type,
        row.target_id,
        row.target_name,
        row.outcome,
        row.message,
        orjson.loads(row.before),
        orjson.loads(row.after),
        orjson.loads(row.requests),
        row.rollback_of,
    )


def entries(db: Engine, *, limit: int = 200, tenant_id: str | None = None) -> list[AuditEntry]:
    """Newest first."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if tenant_id:
        query = query.where(AuditRecord.tenant_id == tenant_id)
    with db.connect() as conn, Session(conn) as session:
        return [_entry(row) for row in session.scalars(query)]


def entry(db: Engine, audit_id: int) -> AuditEntry | None:
    with db.connect() as conn, Session(conn) as session:
        row = session.get(AuditRecord, audit_id)
        return _entry(row) if row is not None else None


def rolled_back_by(db: Engine, audit_id: int) -> AuditEntry | None:
    """The rollback that undid ``audit_id`` (rolled back, or applied with a conflict), if any."""
    query = (
        select(AuditRecord)
        .where(AuditRecord.rollback_of == audit_id, AuditRecord.outcome.in_(UNDONE))
        .order_by(AuditRecord.id)
        .limit(1)
    )
    with db.connect() as conn, Session(conn) as session:
        row = session.scalars(query).first()
        return _entry(row) if row is not None else None


def rollbacks_of(db: Engine, audit_ids: list[int]) -> dict[int, int]:
    """{record id: id of the rollback that undid it} for those of ``audit_ids`` that were undone."""
    if not audit_ids:
        return {}
    query = (
        select(AuditRecord.rollback_of, AuditRecord.id)
        .where(AuditRecord.rollback_of.in_(audit_ids), AuditRecord.outcome.in_(UNDONE))
        .order_by(AuditRecord.id)
    )
    found: dict[int, int] = {}
    with db.connect() as conn:
        for undone, by in conn.execute(query):
            found.setdefault(undone, by)
    return found
