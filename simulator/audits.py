"""The directory audit log: an entry for every Conditional Access write the simulator accepts, the
demo's drift (a client admin removing the service-provider exclusion now and then), and
`GET auditLogs/directoryAudits`.

Entries are kept per tenant in `TenantState.audits` (ordered by time, then sequence) and built by
`demo.directory_audit` in Graph's shape. Writes through the Graph API are attributed to the calling
application (the token's `appid`; Perimeter's app when the token names none). The drift is a pure
function of the seed and the simulated clock: slot k falls `DRIFT_EVERY_SECONDS * k` after the
simulator's start and is made, late if need be, before the next Graph request is answered.
"""

from __future__ import annotations

import bisect
import copy
import functools
import random
import uuid
from datetime import UTC, datetime

from simulator import demo, odata
from simulator.graph_api import Collection, Request, require_premium, selected
from simulator.state import SimState

# Entra ID keeps audit logs 30 days with P1/P2 (REFERENCE.md); tenants without P1 get 403 anyway.
RETENTION_SECONDS = 30 * 86400
# Graph documents no page size for directoryAudits; the simulator pages as it pages signIns.
DEFAULT_TOP = MAX_TOP = 1000
DRIFT_EVERY_SECONDS = 8 * 3600
DRIFT_TENANT_COUNT = 2
_NAMESPACE = uuid.UUID("6f1c2b52-7d0e-4d3c-9a51-0c2f5d9e7a10")


def append(
    state: SimState,
    tenant_id: str,
    ts: int,
    operation: str,
    kind: str,
    old: dict | None,
    new: dict | None,
    initiator: dict,
) -> demo.AuditEntry:
    """Add one entry to a tenant's log (call with the lock held). Ids derive from the seed and the
    entry's sequence number, so the same calls give the same log."""
    log = state.tenants[tenant_id].audits
    seq = max((e.seq for e in log), default=-1) + 1
    correlation = str(uuid.uuid5(_NAMESPACE, f"{state.seed}:{tenant_id}:{seq}"))
    entry = demo.AuditEntry(
        ts, seq, demo.directory_audit(correlation, ts, operation, kind, old, new, initiator)
    )
    bisect.insort(log, entry, key=lambda e: e.key)
    return entry


def record_write(
    state: SimState, req: Request, operation: str, kind: str, old: dict | None, new: dict | None
) -> None:
    """The entry for a write the Graph API accepted (call with the lock held, after the write)."""
    initiator = demo.app_initiator(req.client_id or demo.PERIMETER_APP_ID)
    append(
        state,
        req.tenant_id,
        int(state.clock.now_ts()),
        operation,
        kind,
        copy.deepcopy(old),
        copy.deepcopy(new),
        initiator,
    )


# --- the demo's drift -----------------------------------------------------------------------------


def _excluded_policy(config: demo.TenantConfig) -> dict | None:
    """The tenant's first enabled policy (by name) that excludes service providers."""
    for policy in sorted(config.policies, key=lambda p: (p.get("displayName") or "", p["id"])):
        users = (policy.get("conditions") or {}).get("users") or {}
        excluded = users.get("excludeGuestsOrExternalUsers") or {}
        types = str(excluded.get("guestOrExternalUserTypes") or "").split(",")
        if policy.get("state") == "enabled" and "serviceProvider" in types:
            return policy
    return None


@functools.cache
def drift_tenants(seed: int) -> tuple[str, ...]:
    """The client tenants where the demo's drift happens: licensed GDAP clients (their log can be
    read) whose starting configuration has an enabled policy excluding service providers; the seed
    picks which."""
    eligible = []
    for spec in demo.client_tenants():
        if spec.access_mode != "gdap" or not spec.premium or demo.client_admin(seed, spec.tenant_id) is None:
            continue
        config = demo.initial_config(seed, spec.tenant_id, datetime(2026, 1, 1, tzinfo=UTC))
        if _excluded_policy(config) is not None:
            eligible.append(spec.tenant_id)
    rng = random.Random(f"{seed}:drift")
    return tuple(rng.sample(sorted(eligible), min(DRIFT_TENANT_COUNT, len(eligible))))


def _drift(state: SimState, tenant_id: str, ts: int) -> demo.AuditEntry | None:
    """The client's admin removes the service-provider exclusion from the tenant's first enabled
    policy that has one, at `ts` (lock held); None when no policy has one (nothing to remove)."""
    admin = demo.client_admin(state.seed, tenant_id)
    policy = _excluded_policy(state.tenants[tenant_id].config)
    if admin is None or policy is None:
        return None
    person, ip_address = admin
    old = copy.deepcopy(policy)
    policy["conditions"]["users"]["excludeGuestsOrExternalUsers"] = None
    policy["modifiedDateTime"] = demo.iso(datetime.fromtimestamp(ts, UTC))
    state.commit(tenant_id, at=ts)
    initiator = demo.user_initiator(person, ip_address)
    return append(state, tenant_id, ts, "Update", demo.POLICY_KIND, old, copy.deepcopy(policy), initiator)


def catch_up(state: SimState) -> None:
    """Make every scheduled drift whose time has come (at its own time), in slot order."""
    tenants = drift_tenants(state.seed)
    if not tenants:
        return
    with state.lock:
        now = state.clock.now_ts()
        while True:
            every = state.drift_every_s or DRIFT_EVERY_SECONDS
            slot = state.start_ts + (state.drifts_applied + 1) * every
            if slot > now:
                return
            _drift(state, tenants[state.drifts_applied % len(tenants)], int(slot))
            state.drifts_applied += 1


def drift_now(state: SimState, tenant_id: str | None = None) -> dict | None:
    """Force one drift now in `tenant_id` (default: the first drift tenant): the directoryAudit it
    logged, or None when that tenant has no enabled policy excluding service providers. Raises
    KeyError for a tenant the simulator does not know."""
    catch_up(state)
    with state.lock:
        target = (tenant_id or drift_tenants(state.seed)[0]).lower()
        if target not in state.tenants:
            raise KeyError(target)
        entry = _drift(state, target, int(state.clock.now_ts()))
        return copy.deepcopy(entry.body) if entry else None


# --- GET auditLogs/directoryAudits ------------------------------------------------------------------


def list_directory_audits(state: SimState, req: Request) -> Collection:
    """Newest first (activityDateTime desc, Graph's order), 30 days, `$filter` on activityDateTime
    and equality on category / activityDisplayName / loggedByService / operationType, `$top`,
    a cursor `$skiptoken` (pages stay stable while new entries arrive), `$select`."""
    require_premium(req)
    flt = odata.parse_audit_filter(req.q("$filter"))
    top = odata.parse_top(req.q("$top"), DEFAULT_TOP, MAX_TOP)
    now = int(state.clock.now_ts())
    token = req.q("$skiptoken")
    if token:
        cursor = odata.decode_token(token, "a", {"t": int, "q": int})
        cursor_key = (int(cursor["t"]), int(cursor["q"]))
    else:
        cursor_key = (now + 1, -1)  # everything up to now
    here = odata.encode_token({"k": "a", "t": cursor_key[0], "q": cursor_key[1]})
    with state.lock:
        log = list(state.tenants[req.tenant_id].audits)
    found: list[demo.AuditEntry] = []
    for entry in reversed(log):
        if entry.key >= cursor_key:
            continue
        if entry.ts < now - RETENTION_SECONDS or len(found) > top:
            break
        if not flt.accepts_ts(entry.ts):
            continue
        if any(str(entry.body.get(k, "")).lower() != v.lower() for k, v in flt.equals.items()):
            continue
        found.append(entry)
    next_token = None
    if len(found) > top:
        found = found[:top]
        next_token = odata.encode_token({"k": "a", "t": found[-1].ts, "q": found[-1].seq})
    items = selected(req, [copy.deepcopy(e.body) for e in found])
    return Collection(f"{req.context_base}auditLogs/directoryAudits", items, next_token, here)
