"""The audit log (table audit_log): append-only. Records are inserted and read, never updated or
deleted; a rollback is a new record whose ``rollback_of`` points at the record it undoes."""

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
from fixes.model import REFUSED, ROLLED_BACK


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

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(timespec="seconds") + "Z", "actor": self.actor,
                "tenantId": self.tenant_id, "fix": self.fix_id,
                "target": {"type": self.target_type, "id": self.target_id, "name": self.target_name},
                "outcome": self.outcome, "message": self.message, "before": self.before,
                "after": self.after, "requests": self.requests, "rollbackOf": self.rollback_of}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def append(db: Engine, *, at: datetime, actor: str, tenant_id: str, fix_id: str, target_type: str,
           target_id: str, target_name: str, outcome: str, message: str, before: Any, after: Any,
           requests: list[dict[str, Any]], rollback_of: int | None) -> int:
    with write_transaction(db) as conn:
        return conn.execute(insert(AuditRecord).values(
            at=at, actor=actor[:256], tenant_id=tenant_id, fix_id=fix_id, target_type=target_type,
            target_id=target_id, target_name=target_name[:512], outcome=outcome, message=message,
            before=_json(before), after=_json(after), requests=_json(requests),
            rollback_of=rollback_of)).inserted_primary_key[0]


def _entry(row: AuditRecord) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.actor, row.tenant_id, row.fix_id, row.target_type, row.target_id,
                      row.target_name, row.outcome, row.message, orjson.loads(row.before),
                      orjson.loads(row.after), orjson.loads(row.requests), row.rollback_of)


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
    """The successful rollback of ``audit_id``, if any."""
    query = select(AuditRecord).where(AuditRecord.rollback_of == audit_id,
                                      AuditRecord.outcome == ROLLED_BACK).order_by(AuditRecord.id).limit(1)
    with db.connect() as conn, Session(conn) as session:
        row = session.scalars(query).first()
        return _entry(row) if row is not None else None
