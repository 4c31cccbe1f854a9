"""Every write a page makes, in one place: each action re-checks who may do it (the button being shown
is not the check) and records who did it, at the pages' clock (``data.utcnow``). Fixes are applied
through the fix engine, which checks the Operator role itself and audits every attempt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from db import write_transaction
from db.kiosk import create_kiosk_link, revoke_kiosk_link
from db.posture_store import add_accepted_risk, revoke_accepted_risk
from db.queries import request_collection_now
from ui import data
from ui.auth import current_identity, require_operator


def request_collection() -> None:
    """Ask the worker for a full cycle now. Any signed-in reader may (Viewers included): a collection
    only reads tenants, one request is queued at a time, and the request records who asked."""
    identity = current_identity()
    if identity is None:
        raise PermissionError("sign in to ask for a collection")
    with write_transaction(data.engine()) as conn:
        request_collection_now(conn, identity.name, data.utcnow())


def accept_risk(finding: Any, reason: str, expires_at: datetime) -> int:
    """Record an acceptance of ``finding`` (operator only)."""
    identity = require_operator()
    with write_transaction(data.engine()) as conn:
        risk_id = add_accepted_risk(
            conn,
            check_id=finding.check,
            tenant_id=finding.tenant_id,
            subject_id=finding.subject.id,
            subject_name=finding.subject.name,
            reason=reason,
            accepted_by=identity.name,
            accepted_at=data.utcnow(),
            expires_at=expires_at,
        )
    data.forget_findings()
    return risk_id


def revoke_risk(risk_id: int) -> bool:
    identity = require_operator()
    with write_transaction(data.engine()) as conn:
        revoked = revoke_accepted_risk(conn, risk_id, identity.name, data.utcnow())
    data.forget_findings()
    return revoked


def create_kiosk(label: str, valid_for: timedelta) -> str:
    """A new kiosk link's token (shown once; operator only)."""
    identity = require_operator()
    with write_transaction(data.engine()) as conn:
        return create_kiosk_link(conn, label, identity.name, data.utcnow(), valid_for=valid_for)


def revoke_kiosk(link_id: int) -> None:
    identity = require_operator()
    with write_transaction(data.engine()) as conn:
        revoke_kiosk_link(conn, link_id, identity.name, data.utcnow())
