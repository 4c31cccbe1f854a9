"""Kiosk links: revocable read-only tokens for unattended wall screens (only hashes are stored)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from db.models import KioskLink

# A wall refreshes every few seconds: note its use at most this often, not on every read.
LAST_USED_RESOLUTION = timedelta(minutes=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_kiosk_link(conn: Connection, label: str, created_by: str, now: datetime) -> str:
    """Store a new link and return its token (shown once; only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    conn.execute(insert(KioskLink).values(token_sha256=_digest(token), label=label,
                                          created_by=created_by, created_at=now))
    return token


def kiosk_link_for(conn: Connection, token: str, now: datetime) -> KioskLink | None:
    """The unrevoked link this token opens, or None."""
    if not token or len(token) > 128:
        return None
    with Session(conn) as session:
        link = session.scalars(select(KioskLink).where(KioskLink.token_sha256 == _digest(token),
                                                       KioskLink.revoked_at.is_(None))).first()
    if link is not None and (link.last_used_at is None or now - link.last_used_at > LAST_USED_RESOLUTION):
        conn.execute(update(KioskLink).where(KioskLink.id == link.id).values(last_used_at=now))
    return link


def kiosk_links(conn: Connection) -> list[KioskLink]:
    with Session(conn) as session:
        return list(session.scalars(select(KioskLink).order_by(KioskLink.id.desc())))


def revoke_kiosk_link(conn: Connection, link_id: int, revoked_by: str, now: datetime) -> bool:
    result = conn.execute(update(KioskLink).where(KioskLink.id == link_id, KioskLink.revoked_at.is_(None))
                          .values(revoked_at=now, revoked_by=revoked_by))
    return bool(result.rowcount)
