"""The fix engine: plan → guard → apply → verify → audit, and rollback from any audit record.

    engine = FixEngine(settings, db)
    plan = engine.plan(FixRequest("technician-policy.enable", msp_id, policy_id, egress_ip="203.0.113.7"))
    show(plan.summary, plan.diff(), plan.warnings, plan.refusal)       # nothing has been written
    outcome = engine.apply(plan, actor, acknowledge_warnings=True)     # guards, writes, verifies, audits
    engine.rollback(outcome.audit_id, actor)                           # a new record pointing at it

What ``apply`` does, in order:

1. authorise: the actor must hold the Operator role (else PermissionError, and a "refused" record);
2. guard: the plan is made again from freshly read data. If the target (or what the requests were
   built from) changed since the plan, it is stale: refused, re-plan. The fix's own guards (lockouts,
   input) run again on the fresh data; warnings need ``acknowledge_warnings``;
3. apply: only the fresh plan's requests are sent (raw JSON through TenantGraph or CippClient), so a
   plan handed back by a page cannot smuggle in other requests;
4. verify: the target is read again and must show the change;
5. audit: every apply, refusal, failure and rollback is one append-only record.

Rollback of a record restores exactly what the record changed: the same properties, with the values
they had before (a created policy is deleted; an API client gets its previous ranges back). It is
refused when the target changed since the record (it would overwrite later work), when the previous
state cannot be written (see fixes.cipp and fixes.trusted_location), for SaveToAzure, and when it
would switch a block policy on (that goes through technician-policy.enable and its lockout guard).

``apply`` and ``rollback`` report refusals and failed writes as an :class:`Outcome` (always with an
audit record) and raise PermissionError for a non-operator; ``plan`` and ``plan_rollback`` (so
``rollback`` too) raise BadInput for an unusable request or an unknown audit record.
The methods are synchronous (each runs its own event loop, so not from inside a running one) and
serialised per engine, so one engine can be shared by every session of a dashboard process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from collectors.cipp import CippError
from collectors.graph import GraphError
from collectors.pacing import Pacer
from db.posture_store import latest_findings
from fixes import audit, cipp, trusted_location
from fixes.audit import AuditEntry
from fixes.catalogue import FIXES, fix_for_finding
from fixes.context import NAMED_LOCATIONS, POLICIES, FixContext
from fixes.graph_json import matches, merge_patch, restore_body, same
from fixes.model import (
    APPLIED,
    FAILED,
    OPERATOR_ROLE,
    REFUSED,
    ROLLED_BACK,
    UNCHANGED,
    VERIFY_FAILED,
    Actor,
    BadInput,
    FixRequest,
    FixSpec,
    HttpCall,
    Outcome,
    Plan,
    SentCall,
    Target,
    utcnow,
)
from fixes.plans import checked_id
from posture.accepted import apply_accepted, load_accepted
from posture.findings import Finding
from posture.graph import ENABLED, grant_controls
from settings import Settings

COLLECTIONS = {"policy": POLICIES, "namedLocation": NAMED_LOCATIONS}  # Graph targets by type
SERVICE_ERRORS = (GraphError, CippError)  # a Graph or CIPP call failed for good (already retried)
VERIFY_ATTEMPTS = 3  # Graph may take a moment to show its own write
VERIFY_DELAY_S = 1.0


@dataclass(frozen=True)
class Offer:
    """A fix the latest findings offer: the finding, the request it maps to, and the fix's inputs."""

    finding: dict[str, Any]
    request: FixRequest
    spec: FixSpec

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.finding.get("check"), "status": self.finding.get("status"),
                "severity": self.finding.get("severity"), "tenantId": self.request.tenant_id,
                "subject": self.finding.get("subject"), "message": self.finding.get("message"),
                "fix": self.spec.as_dict(), "request": self.request.as_dict()}


class FixEngine:
    def __init__(self, settings: Settings, db: Engine, *, pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.db = db
        # One pacer for the engine's life, so consecutive operations stay within Graph's limits too.
        self.pacer = pacer or Pacer()
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> FixEngine:
        """The engine on the configured database (migrations applied)."""
        from db import open_database

        return cls(settings, open_database(settings.database_url))

    # --- public API -------------------------------------------------------------------------------

    def plan(self, request: FixRequest) -> Plan:
        """Read the target and build the exact requests; writes nothing. Raises BadInput."""
        return self._run(lambda ctx: self._plan(ctx, request))

    def plan_rollback(self, audit_id: int) -> Plan:
        """The plan that would undo audit record ``audit_id`` (``refusal`` says when it cannot)."""
        return self._run(lambda ctx: self._plan_rollback(ctx, audit_id))

    def apply(self, plan: Plan, actor: Actor, *, acknowledge_warnings: bool = False) -> Outcome:
        """Guard, apply, verify and audit ``plan`` (a fix's or a rollback's). Raises PermissionError
        for a non-operator (after recording the attempt)."""
        self._authorise(actor, plan)
        return self._run(lambda ctx: self._apply(ctx, plan, actor, acknowledge_warnings))

    def rollback(self, audit_id: int, actor: Actor, *, acknowledge_warnings: bool = False) -> Outcome:
        """Undo audit record ``audit_id``: plan the rollback (read-only), then apply it."""
        return self.apply(self.plan_rollback(audit_id), actor, acknowledge_warnings=acknowledge_warnings)

    def offers(self) -> list[Offer]:
        """The fixes the latest findings offer (accepted risks left out), one per distinct request."""
        with self.db.connect() as conn:
            _, stored = latest_findings(conn)
        findings = apply_accepted([Finding.from_dict(f) for f in stored], load_accepted(self.db), utcnow())
        offers, seen = [], set()
        for finding in (f.as_dict() for f in findings):
            request = fix_for_finding(finding)
            if request is not None and request not in seen:
                seen.add(request)
                offers.append(Offer(finding, request, FIXES[request.fix_id]))
        return offers

    def audit_log(self, *, limit: int = 200, tenant_id: str | None = None) -> list[AuditEntry]:
        return audit.entries(self.db, limit=limit, tenant_id=tenant_id)

    def audit_entry(self, audit_id: int) -> AuditEntry:
        record = audit.entry(self.db, audit_id)
        if record is None:
            raise BadInput(f"there is no audit record #{audit_id}")
        return record

    # --- plan ---------------------------------------------------------------------------------------

    def _run(self, operation: Callable[[FixContext], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            async with FixContext(self.settings, self.db, self.pacer) as ctx:
                return await operation(ctx)
        with self._lock:
            return asyncio.run(run())

    async def _plan(self, ctx: FixContext, request: FixRequest) -> Plan:
        spec = FIXES.get(request.fix_id)
        if spec is None:
            raise BadInput(f"unknown fix '{request.fix_id}' (known: {', '.join(FIXES)})")
        if not request.tenant_id.strip():
            raise BadInput(f"{request.fix_id} needs a tenant id")
        checked_id(request.tenant_id, "tenant")
        return await spec.planner(ctx, request)

    async def _replan(self, ctx: FixContext, plan: Plan) -> Plan:
        if plan.rollback_of is not None:
            return await self._plan_rollback(ctx, plan.rollback_of)
        return await self._plan(ctx, plan.request)

    # --- rollback planning --------------------------------------------------------------------------

    async def _plan_rollback(self, ctx: FixContext, audit_id: int) -> Plan:
        record = self.audit_entry(audit_id)
        target = Target(record.target_type, record.target_id, record.target_name)
        request = FixRequest(record.fix_id, record.tenant_id, record.target_id)
        current = await _read_target(ctx, record.tenant_id, target)
        plan = Plan(request, f"Roll back #{audit_id}", f"Undo #{audit_id}: {record.message}", target,
                    current, current, rollback_of=audit_id)
        refusal = await self._rollback_refusal(record, current)
        if refusal:
            plan.refusal = refusal
            return plan
        call = record.requests[0]
        path = f"{COLLECTIONS.get(target.type, '')}/{target.id}"
        if target.type == "apiClient":
            body = cipp.add_update_body(record.before, cipp.restore_ranges(record.before))
            plan.requests, plan.after = [ctx.cipp_call("AddUpdate", body)], record.before
            plan.refusal = cipp.restore_refusal(record.before)
        elif call["method"] == "PATCH":
            body = restore_body(call["body"], record.before)
            plan.requests, plan.after = [ctx.graph_call(record.tenant_id, "PATCH", path, body)], \
                merge_patch(current, body)
            if body.get("state") == ENABLED and "block" in grant_controls(current):
                # Enforcing a block policy is guarded against lockouts (it needs the operator's egress IP).
                plan.refusal = (f"undoing #{audit_id} would switch the block policy '{target.name}' on: use "
                                "technician-policy.enable, which checks for lockouts, instead")
        else:  # POST: the fix created the object
            plan.requests, plan.after = [ctx.graph_call(record.tenant_id, "DELETE", path)], None
        if target.type == "namedLocation":
            plan.refusal = plan.refusal or trusted_location.emptied_refusal(
                plan.after if plan.after is not None else {**current, "ipRanges": []})
        return plan

    async def _rollback_refusal(self, record: AuditEntry, current: Any) -> str | None:
        if not record.changed_something:
            return f"#{record.id} ({record.outcome}) changed nothing, so there is nothing to roll back"
        done = audit.rolled_back_by(self.db, record.id)
        if done is not None:
            return f"#{record.id} was already rolled back by #{done.id}"
        if record.target_type == "azureConfiguration":
            return cipp.SAVE_IRREVERSIBLE
        if record.requests[0].get("method") == "DELETE":
            return (f"#{record.id} deleted '{record.target_name}', which a rollback cannot recreate: apply "
                    "the fix again instead")
        if not same(current, record.after):
            return (f"'{record.target_name}' changed since #{record.id}: rolling back would overwrite those "
                    "later changes; review it and change it by hand")
        return None

    # --- apply --------------------------------------------------------------------------------------

    def _authorise(self, actor: Actor, plan: Plan) -> None:
        """Operators only; a refused attempt is recorded like any other refusal."""
        if actor.is_operator:
            return
        who = actor.name.strip() or "an anonymous user"
        message = f"{who} does not hold the {OPERATOR_ROLE} role: only operators can change tenants"
        self._record(actor, plan, REFUSED, message)
        raise PermissionError(message)

    async def _apply(self, ctx: FixContext, plan: Plan, actor: Actor, acknowledged: bool) -> Outcome:
        try:
            fresh = await self._replan(ctx, plan)
        except BadInput as error:  # e.g. the target was deleted since the plan
            return self._record(actor, plan, REFUSED, str(error), plan.before)
        except SERVICE_ERRORS as error:
            return self._record(actor, plan, FAILED, f"could not read the target again: {error}", plan.before)
        if plan.unchanged and fresh.unchanged:
            return Outcome(UNCHANGED, fresh.summary, fresh, before=fresh.before, after=fresh.before)
        refusal = _staleness(plan, fresh) or fresh.refusal or (
            None if acknowledged or not fresh.warnings else
            f"the plan has {len(fresh.warnings)} warning(s) to acknowledge first: {fresh.warnings[0]}")
        if refusal:
            planned = [SentCall(call, None) for call in fresh.requests]
            return self._record(actor, fresh, REFUSED, refusal, fresh.before, fresh.before, planned)
        sent: list[SentCall] = []
        target = fresh.target
        try:
            for call in fresh.requests:
                status, response = await ctx.send(fresh.tenant_id, call)
                sent.append(SentCall(call, status, _short(response)))
                problem = _write_problem(call, status, response)
                if problem:
                    after = await _read_quietly(ctx, fresh.tenant_id, target)
                    return self._record(actor, fresh, FAILED, problem, fresh.before, after, sent, target)
                if call.method == "POST" and call.service == "graph" and isinstance(response, dict):
                    target = replace(target, id=str(response.get("id") or ""))
        except SERVICE_ERRORS as error:  # the write may or may not have happened: say so, read back
            after = await _read_quietly(ctx, fresh.tenant_id, target)
            return self._record(actor, fresh, FAILED, f"the write failed ({error}); see the state read back",
                                fresh.before, after, sent, target)
        after, problem = await _verify(ctx, fresh, target)
        if problem:
            return self._record(actor, fresh, VERIFY_FAILED, f"{fresh.summary}: {problem}", fresh.before,
                                after, sent, target)
        outcome = ROLLED_BACK if fresh.rollback_of is not None else APPLIED
        return self._record(actor, fresh, outcome, fresh.summary, fresh.before, after, sent, target)

    def _record(self, actor: Actor, plan: Plan, outcome: str, message: str, before: Any = None,
                after: Any = None, sent: list[SentCall] | None = None,
                target: Target | None = None) -> Outcome:
        target = target or plan.target
        sent = sent or []
        audit_id = audit.append(
            self.db, at=utcnow(), actor=actor.name.strip() or "(anonymous)", tenant_id=plan.tenant_id,
            fix_id=plan.request.fix_id, target_type=target.type, target_id=target.id,
            target_name=target.name, outcome=outcome, message=message, before=before, after=after,
            requests=[s.as_dict() for s in sent], rollback_of=plan.rollback_of)
        return Outcome(outcome, message, replace(plan, target=target), audit_id, before, after, sent)


# --- reading, verifying -------------------------------------------------------------------------------

async def _read_target(ctx: FixContext, tenant_id: str, target: Target) -> Any:
    """The target as it reads now (None when it does not exist)."""
    if target.type == "apiClient":
        return await cipp.read_client(ctx, target.id)
    if target.type == "azureConfiguration":
        return await cipp.read_azure_state(ctx)
    if not target.id:
        return None  # to be created
    return await ctx.get(tenant_id, f"{COLLECTIONS[target.type]}/{target.id}")


async def _read_quietly(ctx: FixContext, tenant_id: str, target: Target) -> Any:
    """The target after a failed write, for the record; None when even that cannot be read."""
    try:
        return await _read_target(ctx, tenant_id, target)
    except SERVICE_ERRORS:
        return None


async def _verify(ctx: FixContext, plan: Plan, target: Target) -> tuple[Any, str | None]:
    """(the target read back, why the change did not take or None)."""
    problem: str | None = None
    after: Any = None
    for attempt in range(VERIFY_ATTEMPTS):
        if attempt:
            await asyncio.sleep(VERIFY_DELAY_S)
        try:
            after = await _read_target(ctx, plan.tenant_id, target)
        except SERVICE_ERRORS as error:
            after, problem = None, f"it could not be read back ({error})"
            continue
        problem = _verify_problem(plan, after)
        if problem is None:
            return after, None
    return after, problem


def _verify_problem(plan: Plan, after: Any) -> str | None:
    call = plan.requests[0]
    if call.method == "DELETE":
        return None if after is None else "it still exists after the delete"
    if after is None:
        return "it cannot be read back"
    if plan.target.type == "azureConfiguration":
        return None if cipp.azure_ids(after) == cipp.azure_ids(plan.after) else \
            "Azure's client ids read back differently"
    expected = call.body if call.service == "graph" else plan.after
    return None if matches(after, expected) else "the change did not take: it reads back differently"


def _staleness(plan: Plan, fresh: Plan) -> str | None:
    if same(plan.before, fresh.before) and same([c.as_dict() for c in plan.requests],
                                                [c.as_dict() for c in fresh.requests]):
        return None
    return (f"'{fresh.target.name}' changed since the plan was made: review the new plan before applying "
            "(re-plan)")


def _write_problem(call: HttpCall, status: int, response: Any) -> str | None:
    """Why a write failed, from its answer (CIPP answers 200 even when it rejects ranges)."""
    if status >= 400:
        error = response.get("error") if isinstance(response, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        return f"{'Graph' if call.service == 'graph' else 'CIPP-API'} answered HTTP {status}" + (
            f": {detail}" if detail else "")
    if call.service == "cipp" and isinstance(response, list):
        rejected = [r for r in response if isinstance(r, str) and "is not a valid" in r]
        if rejected:
            return f"CIPP-API rejected the change: {rejected[0]}"
    return None


def _short(response: Any) -> Any:
    """What of an answer goes into the audit record: Graph errors and CIPP's result lines. Created
    objects are recorded as `after` instead, and secrets (CIPP's copyField) never."""
    if isinstance(response, dict) and "error" in response:
        return response["error"]
    if isinstance(response, list):
        return [r if isinstance(r, str) else {k: v for k, v in r.items() if k != "copyField"}
                for r in response if isinstance(r, str | dict)]
    if isinstance(response, dict) and isinstance(response.get("Results"), str):
        return response["Results"]
    return None

