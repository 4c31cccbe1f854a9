"""Lists of sign-ins: the failed sign-ins of a scope with their blocking policy, one sign-in's stored
JSON, and the service account's sign-ins (reads of ``signins`` and ``signin_blocks``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    func,
    select,
)

from db.models import (
    SignIn,
    SignInBlock,
)
from db.signin_raw import UnreadableRaw, raw_json
from db.signin_scope import HOUR_SPAN, Scope, reads_few, signin_conditions
from posture.graph import is_msp_person_elsewhere


@dataclass(frozen=True)
class FailedSignIn:
    id: str
    tenant_id: str
    created_at: datetime
    user_principal_name: str
    app: str
    ip: str
    country: str
    city: str
    error_code: int
    interactive: bool
    policy_id: str
    policy_name: str
    service_provider: bool


_LIST_COLUMNS = (
    SignIn.id,
    SignIn.tenant_id,
    SignIn.created_at,
    SignIn.user_principal_name,
    SignIn.app_display_name,
    SignIn.ip_address,
    SignIn.country,
    SignIn.city,
    SignIn.error_code,
    SignIn.is_interactive,
    SignIn.cross_tenant_access_type,
    SignIn.home_tenant_id,
)


def failed_signins(conn: Connection, scope: Scope, limit: int = 200) -> list[FailedSignIn]:
    """The newest failed sign-ins in the scope. Read in growing slices from the end of the window, so
    the newest rows of a busy month cost what the newest hour costs; a search narrowed to its ids
    (db.signin_scope.reads_few) at once, as SQLite would walk each slice in time order instead."""
    found: list[tuple[Any, ...]] = []
    end = scope.end
    span = scope.end - scope.start if reads_few(scope) else min(HOUR_SPAN, scope.end - scope.start)
    while end > scope.start and len(found) < limit:
        start = max(scope.start, end - span)
        query = (
            select(*_LIST_COLUMNS)
            .where(*signin_conditions(scope, start, end))
            .order_by(SignIn.created_at.desc())
            .limit(limit - len(found))
        )
        found += [tuple(r) for r in conn.execute(query)]
        end, span = start, span * 4
    blocks = _blocks(conn, [r[0] for r in found])
    msp = scope.msp_tenant_id.lower()
    out = []
    for sid, tenant, created, upn, app, ip, country, city, code, interactive, cross, home in found:
        policy_id, policy_name = blocks.get(sid, ("", ""))
        provider = is_msp_person_elsewhere(home, cross, tenant, msp)
        out.append(
            FailedSignIn(
                sid,
                tenant,
                created,
                upn,
                app,
                ip,
                country,
                city,
                int(code),
                bool(interactive),
                policy_id,
                policy_name,
                provider,
            )
        )
    return out


def _blocks(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    if not ids:
        return {}
    rows = conn.execute(
        select(SignInBlock.signin_id, SignInBlock.policy_id, SignInBlock.policy_name).where(
            SignInBlock.signin_id.in_(list(ids))
        )
    )
    return {sid: (pid, name) for sid, pid, name in rows}


def signin_raw(conn: Connection, signin_id: str) -> tuple[str, dict[str, Any]] | None:
    """(tenant id, the sign-in as Graph returned it), or None."""
    row = conn.execute(select(SignIn.tenant_id, SignIn.raw).where(SignIn.id == signin_id)).first()
    if row is None:
        return None
    try:
        body = orjson.loads(raw_json(conn, row[1]))
    except (orjson.JSONDecodeError, UnreadableRaw):
        body = {}
    return row[0], body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class AccountSignIn:
    id: str
    created_at: datetime
    app: str
    ip: str
    error_code: int
    authentication_requirement: str


def account_signins(
    conn: Connection, tenant_id: str, upn: str, since: datetime, until: datetime, limit: int = 200
) -> list[AccountSignIn]:
    """One account's sign-ins in one tenant, newest first (the service account's MFA evidence)."""
    if not upn:
        return []
    rows = conn.execute(
        select(
            SignIn.id,
            SignIn.created_at,
            SignIn.app_display_name,
            SignIn.ip_address,
            SignIn.error_code,
            SignIn.authentication_requirement,
        )
        .where(
            SignIn.tenant_id == tenant_id,
            SignIn.created_at >= since,
            SignIn.created_at < until,
            func.lower(SignIn.user_principal_name) == upn.lower(),
        )
        .order_by(SignIn.created_at.desc())
        .limit(limit)
    )
    return [
        AccountSignIn(sid, created, app, ip, int(code), requirement or "")
        for sid, created, app, ip, code, requirement in rows
    ]
