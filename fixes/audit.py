"""The audit log (table audit_log): append-only. Records are inserted and read, never updated or
deleted; a rollback is a new record whose ``rollback_of`` points at the record it undoes.

Besides the fix engine's records, the dashboard records the changes that are Perimeter's own
(:data:`DASHBOARD_CHANGES`: a risk accepted or revoked, a kiosk link created or revoked) with
:func:`record_change`, in the same transaction as the change. Those have no requests and are undone
where they were made, never rolled back. :func:`changes` is a record's before → after, field by field.

:meth:`AuditEntry.rollback_refusal` is the one place that says why a record cannot be rolled back as
far as the records tell (the engine adds only "the target changed since", which needs a read); the
engine's rollback refusal, the Audit page and ``python -m fixes list --audit`` all use it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session

from db import write_transaction
from db.models import AuditRecord
from fixes.graph_json import same
from fixes.model import CONFLICT, FAILED, REFUSED, ROLLED_BACK, SAVE_IRREVERSIBLE

UNDONE = (ROLLED_BACK, CONFLICT)  # outcomes of a rollback record that did undo its record

# The dashboard's own changes (fix_id of their records) and where each is undone.
RISK_ACCEPTED = "risk.accept"
RISK_REVOKED = "risk.revoke"
KIOSK_LINK_CREATED = "kiosk-link.create"
KIOSK_LINK_REVOKED = "kiosk-link.revoke"
ALERT_RULE_CHANGED = "alert-rule.change"
DASHBOARD_CHANGES = {
    RISK_ACCEPTED: "revoke the acceptance on the Posture page (Accepted risks)",
    RISK_REVOKED: "accept the risk again on the Posture page",
    KIOSK_LINK_CREATED: "revoke the link on the Kiosk links page",
    KIOSK_LINK_REVOKED: "create a new link on the Kiosk links page",
    ALERT_RULE_CHANGED: "set the rule back on the Alerts page",
}
RECORDED = "recorded"  # the outcome of a dashboard change's record


class _Missing:
    """A field one side of a change does not have (shown as "(none)")."""

    def __repr__(self) -> str:
        return "(none)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Change:
    """One field that differs: its JSON path (``conditions.users.excludeUsers[]`` for a list's
    element added or removed), the value before and after (:data:`MISSING` where there is none)."""

    path: str
    before: Any
    after: Any


def changes(before: Any, after: Any) -> list[Change]:
    """What differs between two JSON values, field by field, in path order. Objects are compared key by
    key (a created or deleted object, None on one side, lists each of its fields); lists of different
    content by element, each element added or removed once (``path[]``), so one range added to a location
    is one line, not every later position; a list that only changed order is one change of the whole."""
    out: list[Change] = []
    if isinstance(before, dict) and after is None:
        after = MISSING
    if isinstance(after, dict) and before is None:
        before = MISSING
    _walk("", before, after, out)
    return out


def _joined(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(path: str, before: Any, after: Any, out: list[Change]) -> None:
    if before is not MISSING and after is not MISSING and _canonical(before) == _canonical(after):
        return
    old = before if isinstance(before, dict) else {} if before is MISSING else None
    new = after if isinstance(after, dict) else {} if after is MISSING else None
    if old is not None and new is not None and (old or new):
        for key in sorted(set(old) | set(new), key=str):
            _walk(_joined(path, str(key)), old.get(key, MISSING), new.get(key, MISSING), out)
        return
    if isinstance(before, list) and isinstance(after, list):
        _list_changes(path, before, after, out)
        return
    out.append(Change(path or "(the whole value)", before, after))


def _list_changes(path: str, before: list[Any], after: list[Any], out: list[Change]) -> None:
    old_keys, new_keys = [_canonical(v) for v in before], [_canonical(v) for v in after]
    if sorted(old_keys) == sorted(new_keys):
        out.append(Change(path, before, after))  # the same elements, in another order
        return
    unmatched = list(new_keys)
    for value, key in zip(before, old_keys, strict=True):
        if key in unmatched:
            unmatched.remove(key)
        else:
            out.append(Change(f"{path}[]", value, MISSING))
    unmatched = list(old_keys)
    for value, key in zip(after, new_keys, strict=True):
        if key in unmatched:
            unmatched.remove(key)
        else:
            out.append(Change(f"{path}[]", MISSING, value))


def shown_value(value: Any) -> str:
    """A change's value as one line of text: compact JSON, "(none)" where the field is missing."""
    if value is MISSING:
        return "(none)"
    return orjson.dumps(value).decode() if not isinstance(value, str) else value


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


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
        if self.fix_id in DASHBOARD_CHANGES:
            where = DASHBOARD_CHANGES[self.fix_id]
            return f"#{self.id} is a change to Perimeter itself, not to a tenant: {where}"
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


def record_change(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    kind: str,
    tenant_id: str,
    target_type: str,
    target_id: str,
    target_name: str,
    message: str,
    before: Any,
    after: Any,
) -> int:
    """Record one of the dashboard's own changes (``kind``: a key of :data:`DASHBOARD_CHANGES`) on
    ``conn``, inside the transaction that makes the change, so neither is kept without the other."""
    if kind not in DASHBOARD_CHANGES:
        raise ValueError(f"not a dashboard change: {kind}")
    return _insert(
        conn,
        at=at,
        actor=actor,
        tenant_id=tenant_id,
        fix_id=kind,
        target_type=target_type,
        target_id=target_id,
        target_name=target_name,
        outcome=RECORDED,
        message=message,
        before=before,
        after=after,
        requests=[],
        rollback_of=None,
    )


def _insert(conn: Connection, **values: Any) -> int:
    for key in ("before", "after", "requests"):
        values[key] = _json(values[key])
    values["actor"] = values["actor"][:256]
    values["target_name"] = values["target_name"][:512]
    return int(conn.execute(insert(AuditRecord).values(**values)).inserted_primary_key[0])


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
        return _insert(
            conn,
            at=at,
            actor=actor,
            tenant_id=tenant_id,
            fix_id=fix_id,
            target_type=target_type,
            target_id=target_id,
            target_name=target_name,
            outcome=outcome,
            message=message,
            before=before,
            after=after,
            requests=requests,
            rollback_of=rollback_of,
        )


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
