"""Kiosk links: revocable, expiring read-only tokens for unattended wall screens (only hashes are stored).

A wall re-checks its link on every refresh (pages/wall.py), so the check is a read; the write that
notes a link's use happens at most every LAST_USED_RESOLUTION, in its own short transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.orm import Session

from db.models import KioskLink

# A wall refreshes every few seconds: note its use at most this often, not on every read.
LAST_USED_RESOLUTION = timedelta(minutes=10)
MAX_TOKEN_LENGTH = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_kiosk_link(
    conn: Connection, label: str, created_by: str, now: datetime, valid_for: timedelta | None = None
) -> str:
    """Store a new link and return its token (shown once; only its hash is kept). ``valid_for``
    None: valid until revoked."""
    return new_kiosk_link(conn, label, created_by, now, valid_for)[1]


def new_kiosk_link(
    conn: Connection, label: str, created_by: str, now: datetime, valid_for: timedelta | None = None
) -> tuple[int, str]:
    """:func:`create_kiosk_link`, with the new link's id too (for the audit record, which names the
    link by id and label, never by its token)."""
    token = secrets.token_urlsafe(32)
    link_id = conn.execute(
        insert(KioskLink).values(
            token_sha256=_digest(token),
            label=label,
            created_by=created_by,
            created_at=now,
            expires_at=now + valid_for if valid_for else None,
        )
    ).inserted_primary_key[0]
    return int(link_id), token


def kiosk_link(conn: Connection, link_id: int) -> KioskLink | None:
    with Session(conn) as session:
        link = session.get(KioskLink, link_id)
        if link is not None:
            session.expunge(link)
    return link


def kiosk_link_for(conn: Connection, token: str, now: datetime) -> KioskLink | None:
    """The link this token opens at ``now`` (not revoked, not expired), or None. Reads only."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = select(KioskLink).where(
        KioskLink.token_sha256 == _digest(token),
        KioskLink.revoked_at.is_(None),
        or_(KioskLink.expires_at.is_(None), KioskLink.expires_at > now),
    )
    with Session(conn) as session:
        link = session.scalars(query).first()
        if link is not None:
            session.expunge(link)
    return link


def needs_use_noted(link: KioskLink, now: datetime) -> bool:
    return link.last_used_at is None or now - link.last_used_at > LAST_USED_RESOLUTION


def note_kiosk_use(conn: Connection, link_id: int, now: datetime) -> None:
    conn.execute(update(KioskLink).where(KioskLink.id == link_id).values(last_used_at=now))


def kiosk_links(conn: Connection) -> list[KioskLink]:
    with Session(conn) as session:
        return list(session.scalars(select(KioskLink).order_by(KioskLink.id.desc())))


def revoke_kiosk_link(conn: Connection, link_id: int, revoked_by: str, now: datetime) -> bool:
    result = conn.execute(
        update(KioskLink)
        .where(KioskLink.id == link_id, KioskLink.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=revoked_by)
    )
    return bool(result.rowcount)
