"""Storage of the daily MFA coverage history (one row per tenant and day; the day's last evaluation wins)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
)

from db.models import (
    MfaCoverageDaily,
)


def store_mfa_coverage(conn: Connection, day: date, rows: Iterable[Any]) -> int:
    """Replace ``day``'s rows with ``rows`` (investigate.mfa.TenantMfa)."""
    values = [
        {
            "day": day,
            "tenant_id": r.tenant_id,
            "enabled_members": r.enabled_members,
            "mfa_capable": r.mfa_capable,
            "mfa_registered": r.mfa_registered,
            "admins": r.admins,
            "admins_capable": r.admins_capable,
            "enforcement": r.enforcement,
            "enforcement_detail": r.enforcement_detail[:2000],
            "methods": orjson.dumps(r.methods).decode(),
        }
        for r in rows
    ]
    conn.execute(delete(MfaCoverageDaily).where(MfaCoverageDaily.day == day))
    if values:
        conn.execute(insert(MfaCoverageDaily), values)
    return len(values)


def purge_mfa_coverage(conn: Connection, before: date) -> int:
    return conn.execute(delete(MfaCoverageDaily).where(MfaCoverageDaily.day < before)).rowcount or 0


def mfa_coverage_latest(conn: Connection) -> tuple[date | None, list[MfaCoverageDaily]]:
    """The latest day's MFA coverage rows (one per tenant)."""
    from sqlalchemy.orm import Session

    day = conn.execute(select(func.max(MfaCoverageDaily.day))).scalar()
    if day is None:
        return None, []
    with Session(conn) as session:
        rows = list(session.scalars(select(MfaCoverageDaily).where(MfaCoverageDaily.day == day)))
        session.expunge_all()
    return day, rows


def mfa_trend(
    conn: Connection, since: date, tenants: Sequence[str] | None = None
) -> list[tuple[date, int, int]]:
    """(day, enabled members, MFA capable) summed over the tenants, per day since ``since``."""
    m = MfaCoverageDaily
    query = select(m.day, func.sum(m.enabled_members), func.sum(m.mfa_capable)).where(m.day >= since)
    if tenants:
        query = query.where(m.tenant_id.in_(list(tenants)))
    return [
        (day, int(members or 0), int(capable or 0))
        for day, members, capable in conn.execute(query.group_by(m.day).order_by(m.day))
    ]


def registered_methods(row: MfaCoverageDaily) -> dict[str, int]:
    """A coverage row's users per registered method (stored as JSON text); {} for a row it cannot read."""
    try:
        methods = orjson.loads(row.methods or "{}")
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(methods, dict):
        return {}
    return {str(k): int(v) for k, v in methods.items() if isinstance(v, int) and not isinstance(v, bool)}
