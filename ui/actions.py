"""Every write a page makes, in one place: each action re-checks who may do it (the button being shown
is not the check) and records who did it, at the pages' clock (``data.utcnow``). Fixes are applied
through the fix engine, which checks the Operator role itself and audits every attempt; the dashboard's
own changes (a risk accepted or revoked, a kiosk link created or revoked) are written to the same audit
log here, in the transaction that makes the change (who, when, what; never a kiosk link's token)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from db import write_transaction
from db.kiosk import kiosk_link, new_kiosk_link, revoke_kiosk_link
from db.posture_store import accepted_risks, add_accepted_risk, revoke_accepted_risk
from db.queries import request_collection_now
from fixes.audit import (
    KIOSK_LINK_CREATED,
    KIOSK_LINK_REVOKED,
    RISK_ACCEPTED,
    RISK_REVOKED,
    record_change,
)
from ui import data
from ui.auth import current_identity, require_operator

RISK = "acceptedRisk"
KIOSK_LINK = "kioskLink"


def request_collection() -> None:
    """Ask the worker for a full cycle now. Any signed-in reader may (Viewers included): a collection
    only reads tenants, one request is queued at a time, and the request records who asked."""
    identity = current_identity()
    if identity is None:
        raise PermissionError("sign in to ask for a collection")
    with write_transaction(data.engine()) as conn:
        request_collection_now(conn, identity.name, data.utcnow())


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def accept_risk(finding: Any, reason: str, expires_at: datetime) -> int:
    """Record an acceptance of ``finding`` (operator only), and its audit record."""
    identity = require_operator()
    now = data.utcnow()
    with write_transaction(data.engine()) as conn:
        risk_id = add_accepted_risk(
            conn,
            check_id=finding.check,
            tenant_id=finding.tenant_id,
            subject_id=finding.subject.id,
            subject_name=finding.subject.name,
            reason=reason,
            accepted_by=identity.name,
            accepted_at=now,
            expires_at=expires_at,
        )
        record_change(
            conn,
            at=now,
            actor=identity.name,
            kind=RISK_ACCEPTED,
            tenant_id=finding.tenant_id,
            target_type=RISK,
            target_id=str(risk_id),
            target_name=f"{finding.check} · {finding.subject.name or finding.subject.id}",
            message=f"Accepted the risk of {finding.check} until {expires_at:%Y-%m-%d}: {reason}",
            before=None,
            after={
                "check": finding.check,
                "subject": {"id": finding.subject.id, "name": finding.subject.name},
                "reason": reason,
                "expiresAt": _stamp(expires_at),
            },
        )
    data.forget_findings()
    return risk_id


def revoke_risk(risk_id: int) -> bool:
    """Revoke acceptance ``risk_id`` (operator only); recorded when it was still in force."""
    identity = require_operator()
    now = data.utcnow()
    with write_transaction(data.engine()) as conn:
        risk = next((r for r in accepted_risks(conn) if r.id == risk_id), None)
        revoked = revoke_accepted_risk(conn, risk_id, identity.name, now)
        if revoked and risk is not None:
            held = {
                "check": risk.check_id,
                "subject": {"id": risk.subject_id, "name": risk.subject_name},
                "reason": risk.reason,
                "acceptedBy": risk.accepted_by,
                "expiresAt": _stamp(risk.expires_at),
            }
            record_change(
                conn,
                at=now,
                actor=identity.name,
                kind=RISK_REVOKED,
                tenant_id=risk.tenant_id,
                target_type=RISK,
                target_id=str(risk_id),
                target_name=f"{risk.check_id} · {risk.subject_name or risk.subject_id}",
                message=f"Revoked the acceptance of {risk.check_id} by {risk.accepted_by}",
                before=held,
                after={**held, "revokedAt": _stamp(now)},
            )
    data.forget_findings()
    return revoked


def _link_state(link: Any) -> dict[str, Any]:
    """What the audit keeps of a kiosk link: its id, label and dates (never its token or hash)."""
    return {
        "id": link.id,
        "label": link.label,
        "createdBy": link.created_by,
        "expiresAt": _stamp(link.expires_at),
        "revokedAt": _stamp(link.revoked_at),
    }


def create_kiosk(label: str, valid_for: timedelta) -> str:
    """A new kiosk link's token (shown once; operator only). The audit record names the link, not
    the token."""
    identity = require_operator()
    now = data.utcnow()
    with write_transaction(data.engine()) as conn:
        link_id, token = new_kiosk_link(conn, label, identity.name, now, valid_for=valid_for)
        link = kiosk_link(conn, link_id)
        record_change(
            conn,
            at=now,
            actor=identity.name,
            kind=KIOSK_LINK_CREATED,
            tenant_id=data.settings().msp_tenant_id,
            target_type=KIOSK_LINK,
            target_id=str(link_id),
            target_name=label,
            message=f"Created a kiosk link for the wall, valid for {valid_for.days} days",
            before=None,
            after=_link_state(link),
        )
    return token


def revoke_kiosk(link_id: int) -> bool:
    """Revoke kiosk link ``link_id`` (operator only); recorded when it was still in force."""
    identity = require_operator()
    now = data.utcnow()
    with write_transaction(data.engine()) as conn:
        before = kiosk_link(conn, link_id)
        revoked = revoke_kiosk_link(conn, link_id, identity.name, now)
        after = kiosk_link(conn, link_id)
        if revoked and before is not None and after is not None:
            record_change(
                conn,
                at=now,
                actor=identity.name,
                kind=KIOSK_LINK_REVOKED,
                tenant_id=data.settings().msp_tenant_id,
                target_type=KIOSK_LINK,
                target_id=str(link_id),
                target_name=before.label,
                message="Revoked the kiosk link: a wall using it blanks at its next refresh",
                before=_link_state(before),
                after=_link_state(after),
            )
    return revoked
