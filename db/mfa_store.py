"""Storage of the daily MFA coverage history (one row per tenant and day; the day's last evaluation wins)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert

from db.models import MfaCoverageDaily


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
