"""Change history (issue 16): versions of configuration objects, the directory audit entries that say who
made them, and findings' status transitions with the change judged to have caused them.

Writes: :func:`record_versions` (from db.store.replace_objects, the one path every collected object
takes), :func:`store_directory_audits` (the directoryAudits source), :func:`attach_changes` (after a
collection), :func:`regression_causes` (db.posture_store.store_evaluation) and
:func:`purge_change_history` (retention). Reads, each one or two indexed queries: :func:`changes`,
:func:`finding_transitions`, :func:`object_timeline`, :func:`version_diff`.

Everything read back from here is tenant text (names, UPNs, diff words): pages show it as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from db.driver import dialect_insert
from db.models import AuditRecord, DirectoryAudit, FindingTransition, ObjectVersion
from graphjson.times import parse_graph_datetime
from graphjson.values import as_dict, as_list, text
from investigate.diff import DiffLine, content_hash, diff, diff_words

# The configuration kinds that are versioned (graph_objects.kind).
VERSIONED_KINDS = frozenset(
    {
        "conditionalAccessPolicies",
        "namedLocations",
        "securityDefaults",
        "cipp.apiClients",
        "cipp.azureConfiguration",
    }
)
# A finding's subject type -> the kind whose versions can have caused it (others: any in the tenant).
SUBJECT_KINDS = {
    "policy": "conditionalAccessPolicies",
    "namedLocation": "namedLocations",
    "apiClient": "cipp.apiClients",
}
# Perimeter's own fixes that changed something (fixes.model: APPLIED, ROLLED_BACK, CONFLICT).
CHANGING_OUTCOMES = ("applied", "rolled-back", "applied-with-conflict")
# A tenant's first collection: its versioned sources come first in its collection (policies, named
# locations, security defaults: seconds apart at Conditional Access pacing; CIPP's at the cycle's start),
# well within this, and a full cycle is 5 minutes apart by default.
BASELINE_WINDOW = timedelta(minutes=2)
DELETED_HASH = ""  # content_hash of a deletion version (body NULL)
PERIMETER = "perimeter"  # who_type of a change made by Perimeter's own fix

_OV = ObjectVersion
_PREVIOUS = aliased(ObjectVersion, name="previous")
_OLDER = aliased(ObjectVersion, name="older")
_TRANSITIONS = FindingTransition.__table__


# --- rows read back ---


@dataclass(frozen=True)
class TransitionRow:
    """A finding's status change between two evaluations (finding_transitions), with its cause."""

    id: int
    evaluation_id: int
    at: datetime
    tenant_id: str
    check_id: str
    subject_type: str
    subject_id: str
    subject_name: str
    severity: str
    from_status: str  # 'new': the finding did not exist
    to_status: str  # 'gone': it no longer exists
    body: str  # the finding's JSON after (before when gone)
    cause_version_id: int | None
    cause: ChangeRow | None = None


@dataclass(frozen=True)
class ChangeRow:
    """One version of a configuration object seen as a change: what (the diff from the version before),
    when (first collected; the audit entry's or fix's own time when known), who and from where."""

    version_id: int
    tenant_id: str
    kind: str
    object_id: str
    name: str
    version: int
    seen_at: datetime
    changed_at: datetime | None  # the directory audit entry's or the fix's time; None: not known
    who: str  # a UPN, an app's name, "Perimeter (operator X)", or "" when not known
    who_type: str  # 'user' | 'app' | 'perimeter' | ''
    from_ip: str
    fix_audit_id: int | None
    diff: list[DiffLine]
    moved: list[TransitionRow] = field(default_factory=list)
    deleted: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The finding JSON's ``change`` key (SPEC shape: camelCase, diff in words)."""
        return {
            "versionId": self.version_id,
            "kind": self.kind,
            "objectId": self.object_id,
            "seenAt": self.seen_at.isoformat() + "Z",
            "who": self.who,
            "whoType": self.who_type,
            "diff": diff_words(self.diff),
        }


# --- versions ---


def record_versions(
    conn: Connection, tenant_id: str, kind: str, objects: Mapping[str, Any], seen_at: datetime
) -> int:
    """Write a version for each object of a full replacement of ``kind`` whose content differs from its
    latest version, and a deletion version (body NULL) for each object with a live latest version that
    is no longer there. One read of the kind's latest hashes; returns how many versions were written."""
    if kind not in VERSIONED_KINDS:
        return 0
    latest = _latest_versions(conn, tenant_id, kind)
    rows = []
    for oid, obj in objects.items():
        digest = content_hash(obj)
        version, known = latest.get(oid, (0, None))
        if known != digest:
            rows.append(_version_row(tenant_id, kind, oid, version + 1, obj, digest, seen_at))
    for oid, (version, known) in latest.items():
        if oid not in objects and known != DELETED_HASH:
            rows.append(_version_row(tenant_id, kind, oid, version + 1, None, DELETED_HASH, seen_at))
    if rows:
        conn.execute(insert(ObjectVersion), rows)
    return len(rows)


def _latest_versions(conn: Connection, tenant_id: str, kind: str) -> dict[str, tuple[int, str]]:
    """object_id -> (latest version, its content hash) for one tenant and kind."""
    newest = (
        select(_OV.object_id, func.max(_OV.version).label("version"))
        .where(_OV.tenant_id == tenant_id, _OV.kind == kind)
        .group_by(_OV.object_id)
        .subquery()
    )
    rows = conn.execute(
        select(_OV.object_id, _OV.version, _OV.content_hash).join(
            newest,
            and_(
                _OV.tenant_id == tenant_id,
                _OV.kind == kind,
                _OV.object_id == newest.c.object_id,
                _OV.version == newest.c.version,
            ),
        )
    )
    return {oid: (version, digest) for oid, version, digest in rows}


def _version_row(
    tenant_id: str, kind: str, oid: str, version: int, obj: Any, digest: str, seen_at: datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "object_id": oid,
        "version": version,
        "body": None if obj is None else json.dumps(obj, separators=(",", ":")),
        "content_hash": digest,
        "seen_at": seen_at,
    }


# --- directory audits ---


def directory_audit_row(tenant_id: str, entry: Any) -> dict[str, Any] | None:
    """A directory_audits row from one Graph directoryAudit entry, or None without an id or a readable
    activityDateTime (nothing to keep it under)."""
    if not isinstance(entry, dict):
        return None
    entry_id = text(entry.get("id"))
    try:
        activity_at = parse_graph_datetime(text(entry.get("activityDateTime")))
    except ValueError:
        return None
    if not entry_id:
        return None
    initiated = as_dict(entry.get("initiatedBy"))
    user, app = as_dict(initiated.get("user")), as_dict(initiated.get("app"))
    if user:
        who = text(user.get("userPrincipalName")) or text(user.get("displayName")) or text(user.get("id"))
        who_type, ip = "user", text(user.get("ipAddress"))
    else:
        who = text(app.get("displayName")) or text(app.get("appId")) or text(app.get("servicePrincipalId"))
        who_type, ip = "app", ""
    targets = [text(as_dict(t).get("id")).lower() for t in as_list(entry.get("targetResources"))]
    return {
        "tenant_id": tenant_id,
        "id": entry_id[:64],
        "activity_at": activity_at,
        "category": text(entry.get("category"))[:64],
        "activity": text(entry.get("activityDisplayName"))[:256],
        "operation_type": text(entry.get("operationType"))[:32],
        "result": text(entry.get("result"))[:32],
        "initiated_by": who[:256],
        "initiated_by_type": who_type,
        "initiated_from_ip": ip[:64],
        "target_ids": " ".join(t for t in targets if t),
        "body": json.dumps(entry, separators=(",", ":")),
    }


def store_directory_audits(
    conn: Connection, tenant_id: str, entries: Iterable[Any]
) -> tuple[int, int, datetime | None]:
    """Insert entries, each (tenant, id) once however often it is read (the overlap re-reads some).
    Returns (rows offered, malformed entries skipped, newest activityDateTime)."""
    rows, skipped = [], 0
    for entry in entries:
        row = directory_audit_row(tenant_id, entry)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    if not rows:
        return 0, skipped, None
    table = DirectoryAudit.__table__
    conn.execute(
        dialect_insert(conn.dialect, table).on_conflict_do_nothing(index_elements=["tenant_id", "id"]),  # type: ignore[arg-type]
        rows,
    )
    return len(rows), skipped, max(row["activity_at"] for row in rows)


# --- attribution ---


def attach_changes(conn: Connection, since: datetime) -> int:
    """Link each version seen since ``since`` and not yet attributed to what produced it: the latest
    directory audit entry naming the object with activity_at after the previous version's seen_at and
    not after this one's, and Perimeter's own fix (audit_log) on the object in that same window. A
    tenant's first collection (its baseline) is not a change and stays unlinked. Returns how
    many versions were linked. Run after a collection's audits and versions are stored; entries that
    arrive late (Graph's audit latency) link at a later run."""
    candidates = conn.execute(
        select(_OV.id, _OV.tenant_id, _OV.kind, _OV.object_id, _OV.seen_at, _PREVIOUS.seen_at)
        .outerjoin(_PREVIOUS, _previous_join())
        .where(
            _OV.seen_at >= since,
            _OV.directory_audit_id.is_(None),
            _OV.fix_audit_id.is_(None),
            ~_baseline(conn, since),
        )
    ).all()
    linked = 0
    for version_id, tenant_id, _kind, oid, seen_at, previous_at in candidates:
        entry = _audit_entry_for(conn, tenant_id, oid, previous_at, seen_at)
        fix = _fix_for(conn, tenant_id, oid, previous_at, seen_at)
        if entry is None and fix is None:
            continue
        conn.execute(
            update(ObjectVersion)
            .where(ObjectVersion.id == version_id)
            .values(directory_audit_id=entry, fix_audit_id=fix)
        )
        linked += 1
    return linked


def _audit_entry_for(
    conn: Connection, tenant_id: str, oid: str, after: datetime | None, until: datetime
) -> str | None:
    query = select(DirectoryAudit.id, DirectoryAudit.target_ids).where(
        DirectoryAudit.tenant_id == tenant_id, DirectoryAudit.activity_at <= until
    )
    if after is not None:
        query = query.where(DirectoryAudit.activity_at > after)
    wanted = oid.lower()
    # Newest first; the id match is checked here (a LIKE cannot use the index and ids are GUIDs).
    rows = conn.execute(
        query.where(DirectoryAudit.target_ids.contains(wanted)).order_by(DirectoryAudit.activity_at.desc())
    )
    return next((entry_id for entry_id, targets in rows if wanted in targets.split()), None)


def _fix_for(
    conn: Connection, tenant_id: str, oid: str, after: datetime | None, until: datetime
) -> int | None:
    query = select(AuditRecord.id).where(
        AuditRecord.tenant_id == tenant_id,
        func.lower(AuditRecord.target_id) == oid.lower(),
        AuditRecord.outcome.in_(CHANGING_OUTCOMES),
        AuditRecord.at <= until,
    )
    if after is not None:
        query = query.where(AuditRecord.at > after)
    return conn.execute(query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(1)).scalar()


def _previous_join() -> Any:
    return and_(
        _PREVIOUS.tenant_id == _OV.tenant_id,
        _PREVIOUS.kind == _OV.kind,
        _PREVIOUS.object_id == _OV.object_id,
        _PREVIOUS.version == _OV.version - 1,
    )


def _baseline(conn: Connection, since: datetime) -> Any:
    """The condition "a first version seen in its tenant's first collection" (within BASELINE_WINDOW of
    the tenant's earliest version): what the tenant had when history began, not a change. A kind that
    was empty then (no named location yet) has its first object counted as created. Only tenants
    whose first collection reaches ``since`` can have such versions in a read from ``since``: found
    from the version-1 rows in that range and one index seek per such tenant."""
    created = aliased(ObjectVersion, name="created")  # not _OLDER: the subquery must not correlate
    recent = select(created.tenant_id).where(created.version == 1, created.seen_at >= since - BASELINE_WINDOW)
    firsts = conn.execute(
        select(_OLDER.tenant_id, func.min(_OLDER.seen_at))
        .where(_OLDER.tenant_id.in_(recent.distinct()))
        .group_by(_OLDER.tenant_id)
    ).all()
    tenants = [
        and_(_OV.tenant_id == tenant_id, _OV.seen_at < first + BASELINE_WINDOW)
        for tenant_id, first in firsts
        if first + BASELINE_WINDOW > since
    ]
    return and_(_OV.version == 1, or_(*tenants)) if tenants else false()


# --- reads ---


def _change_query() -> Any:
    return (
        select(
            _OV.id,
            _OV.tenant_id,
            _OV.kind,
            _OV.object_id,
            _OV.version,
            _OV.body,
            _OV.seen_at,
            _OV.fix_audit_id,
            _PREVIOUS.body.label("previous_body"),
            DirectoryAudit.activity_at,
            DirectoryAudit.initiated_by,
            DirectoryAudit.initiated_by_type,
            DirectoryAudit.initiated_from_ip,
            AuditRecord.actor,
            AuditRecord.at.label("fix_at"),
        )
        .outerjoin(_PREVIOUS, _previous_join())
        .outerjoin(
            DirectoryAudit,
            and_(DirectoryAudit.tenant_id == _OV.tenant_id, DirectoryAudit.id == _OV.directory_audit_id),
        )
        .outerjoin(AuditRecord, AuditRecord.id == _OV.fix_audit_id)
    )


def _change_row(row: Any, baseline: bool = False) -> ChangeRow:
    body = _loads(row.body)
    before = _loads(row.previous_body)
    lines = [] if baseline else diff(before, body)
    named = body if isinstance(body, dict) else before if isinstance(before, dict) else {}
    name = text(named.get("displayName")) or text(named.get("AppName")) or row.object_id
    if row.fix_audit_id is not None and row.actor is not None:
        who, who_type, ip, at = f"Perimeter (operator {row.actor})", PERIMETER, "", row.fix_at
    elif row.initiated_by is not None:
        who, who_type = row.initiated_by, row.initiated_by_type
        ip, at = row.initiated_from_ip, row.activity_at
    else:
        who, who_type, ip, at = "", "", "", None
    return ChangeRow(
        version_id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        object_id=row.object_id,
        name=name,
        version=row.version,
        seen_at=row.seen_at,
        changed_at=at,
        who=who,
        who_type=who_type,
        from_ip=ip,
        fix_audit_id=row.fix_audit_id,
        diff=lines,
        deleted=row.body is None,
    )


def _loads(body: str | None) -> Any:
    return None if body is None else json.loads(body)


def changes(
    conn: Connection,
    since: datetime,
    until: datetime | None = None,
    tenant_id: str | None = None,
    kind: str | None = None,
    who: str | None = None,
    limit: int = 500,
) -> list[ChangeRow]:
    """Changes seen in [since, until), newest first, each with its diff, who made it and the findings it
    moved (finding_transitions caused by it). ``who`` matches part of the UPN, app name or operator
    (case-insensitive). A tenant's baseline (its first collection of a kind) is not listed."""
    query = _change_query().where(_OV.seen_at >= since, ~_baseline(conn, since))
    if until is not None:
        query = query.where(_OV.seen_at < until)
    if tenant_id:
        query = query.where(_OV.tenant_id == tenant_id)
    if kind:
        query = query.where(_OV.kind == kind)
    if who:
        needle = who.lower()
        query = query.where(
            or_(
                func.lower(DirectoryAudit.initiated_by).contains(needle, autoescape=True),
                func.lower(AuditRecord.actor).contains(needle, autoescape=True),
            )
        )
    rows = conn.execute(query.order_by(_OV.seen_at.desc(), _OV.id.desc()).limit(limit)).all()
    found = [_change_row(row) for row in rows]
    if not found:
        return []
    moved: dict[int, list[TransitionRow]] = {}
    transitions = conn.execute(
        select(_TRANSITIONS)
        .where(
            FindingTransition.at >= min(c.seen_at for c in found),
            FindingTransition.cause_version_id.in_([c.version_id for c in found]),
        )
        .order_by(FindingTransition.at, FindingTransition.id)
    )
    for t in transitions:
        moved.setdefault(t.cause_version_id, []).append(_transition_row(t, None))
    return [_with_moved(c, moved.get(c.version_id, [])) for c in found]


def _with_moved(change: ChangeRow, moved: list[TransitionRow]) -> ChangeRow:
    change.moved.extend(moved)
    return change


def changes_by_id(conn: Connection, version_ids: Iterable[int]) -> dict[int, ChangeRow]:
    """The changes with these version ids (without the findings they moved)."""
    ids = sorted(set(version_ids))
    if not ids:
        return {}
    rows = conn.execute(_change_query().where(_OV.id.in_(ids))).all()
    return {row.id: _change_row(row) for row in rows}


def _transition_row(t: Any, cause: ChangeRow | None) -> TransitionRow:
    return TransitionRow(
        id=t.id,
        evaluation_id=t.evaluation_id,
        at=t.at,
        tenant_id=t.tenant_id,
        check_id=t.check_id,
        subject_type=t.subject_type,
        subject_id=t.subject_id,
        subject_name=t.subject_name,
        severity=t.severity,
        from_status=t.from_status,
        to_status=t.to_status,
        body=t.body,
        cause_version_id=t.cause_version_id,
        cause=cause,
    )


def finding_transitions(
    conn: Connection, since: datetime, until: datetime | None = None, tenant_id: str | None = None
) -> list[TransitionRow]:
    """Findings whose status changed in [since, until), newest first, each with its cause (if any)."""
    query = select(_TRANSITIONS).where(FindingTransition.at >= since)
    if until is not None:
        query = query.where(FindingTransition.at < until)
    if tenant_id:
        query = query.where(FindingTransition.tenant_id == tenant_id)
    rows = conn.execute(query.order_by(FindingTransition.at.desc(), FindingTransition.id)).all()
    causes = changes_by_id(conn, (t.cause_version_id for t in rows if t.cause_version_id is not None))
    return [
        _transition_row(t, causes.get(t.cause_version_id) if t.cause_version_id is not None else None)
        for t in rows
    ]


def object_timeline(conn: Connection, tenant_id: str, kind: str, object_id: str) -> list[ChangeRow]:
    """Every kept version of one object, oldest first, each with its diff from the version before (the
    tenant's baseline version: no diff)."""
    query = _change_query().where(_OV.tenant_id == tenant_id, _OV.kind == kind, _OV.object_id == object_id)
    rows = conn.execute(query.order_by(_OV.version)).all()
    first_seen = conn.execute(
        select(func.min(ObjectVersion.seen_at)).where(ObjectVersion.tenant_id == tenant_id)
    ).scalar()
    return [
        _change_row(row, baseline=row.version == 1 and row.seen_at < first_seen + BASELINE_WINDOW)
        for row in rows
    ]


def version_diff(conn: Connection, version_id_a: int, version_id_b: int) -> list[DiffLine]:
    """The diff from version a to version b (any two versions; of one object for a sensible answer)."""
    bodies = dict(
        conn.execute(
            select(ObjectVersion.id, ObjectVersion.body).where(
                ObjectVersion.id.in_([version_id_a, version_id_b])
            )
        ).all()
    )
    return diff(_loads(bodies.get(version_id_a)), _loads(bodies.get(version_id_b)))


# --- transitions' causes (db.posture_store) ---


def regression_causes(
    conn: Connection, after: datetime, until: datetime
) -> tuple[dict[tuple[str, str, str], int], dict[str, int]]:
    """The versions seen in (after, until]: the latest per (tenant, kind, lower-case object id), and the
    latest per tenant (for findings about the tenant rather than one object)."""
    rows = conn.execute(
        select(_OV.id, _OV.tenant_id, _OV.kind, _OV.object_id)
        .where(_OV.seen_at > after, _OV.seen_at <= until, ~_baseline(conn, after))
        .order_by(_OV.seen_at, _OV.id)
    )
    by_object: dict[tuple[str, str, str], int] = {}
    by_tenant: dict[str, int] = {}
    for version_id, tenant_id, kind, oid in rows:  # oldest first: the latest wins
        by_object[(tenant_id, kind, oid.lower())] = version_id
        by_tenant[tenant_id] = version_id
    return by_object, by_tenant


def cause_of(
    causes: tuple[dict[tuple[str, str, str], int], dict[str, int]],
    tenant_id: str,
    subject_type: str,
    subject_id: str,
) -> int | None:
    """The version judged to have caused a finding about this subject to regress: a change of the
    subject itself (policy, named location, API client), or for any other subject the tenant's latest
    change."""
    by_object, by_tenant = causes
    kind = SUBJECT_KINDS.get(subject_type)
    if kind is not None:
        return by_object.get((tenant_id, kind, subject_id.lower()))
    return by_tenant.get(tenant_id)


# --- retention ---


def purge_change_history(conn: Connection, before: datetime) -> dict[str, int]:
    """Drop versions seen before ``before`` except each object's latest, and directory audit entries
    and finding transitions older than that."""
    newer = aliased(ObjectVersion, name="newer")
    superseded = exists().where(
        newer.tenant_id == ObjectVersion.tenant_id,
        newer.kind == ObjectVersion.kind,
        newer.object_id == ObjectVersion.object_id,
        newer.version > ObjectVersion.version,
    )
    versions = conn.execute(delete(ObjectVersion).where(ObjectVersion.seen_at < before, superseded)).rowcount
    audits = conn.execute(delete(DirectoryAudit).where(DirectoryAudit.activity_at < before)).rowcount
    transitions = conn.execute(delete(FindingTransition).where(FindingTransition.at < before)).rowcount
    return {"versions": versions or 0, "directoryAudits": audits or 0, "transitions": transitions or 0}
