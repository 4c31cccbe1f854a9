"""The fix engine: plan → guard → apply → verify → audit, and rollback from any audit record.

    engine = FixEngine(settings, db)
    plan = engine.plan(FixRequest("technician-policy.enable", msp_id, policy_id, egress_ip="203.0.113.7"))
    show(plan.summary, plan.diff(), plan.warnings, plan.refusal)       # nothing has been written
    outcome = engine.apply(plan, actor, acknowledge_warnings=True)     # guards, writes, verifies, audits
    engine.rollback(outcome.audit_id, actor, egress_ip="203.0.113.7")  # a new record pointing at it

What ``apply`` does, in order:

1. authorise: the actor must hold the Operator role, compared exactly (fixes.model.holds_role; else
   PermissionError, and a "refused" record);
2. guard: the plan is made again from freshly read data. If the target (or what the requests were
   built from) changed since the plan, it is stale: refused, re-plan. The guards run again on the fresh
   data; warnings need ``acknowledge_warnings``;
3. apply: only the fresh plan's requests are sent (raw JSON through TenantGraph or CippClient), so a
   plan handed back by a page cannot smuggle in other requests. Each write is preceded by one more read
   of the target (see "Concurrent edits");
4. verify: the target is read again and must show the change;
5. audit: every apply, refusal, failure and rollback is one append-only record.

Guards: one set for every write, forward fixes and rollbacks alike, in fixes.guards, which the engine
calls for every plan it makes (``plan``, ``plan_rollback``) and again right before the write. They judge
the state the write would produce (the plan's ``after``): a trusted named location never left without a
range nor covering every address, the operator's stated egress IP still inside what an enabled block
policy exempts, the lockout guard for any write leaving an enabled block policy in the MSP tenant, an API
client never opened to any IP. A rollback that would switch a block policy on is judged exactly like
technician-policy.enable: it needs the operator's egress IP (``plan_rollback(audit_id, egress_ip)``).
Any write that switches a policy On (any tenant, fix or rollback) is also judged by what the policy did
in report-only (fixes.plans.switch_on_evidence): refused when it would have blocked the CIPP service
account, a break-glass account or the MSP's service-provider users; warned when it would have blocked
a technician or the evidence is thin; the evidence goes into the plan and its audit record.

Concurrent edits. Graph's conditionalAccessPolicy and namedLocation updates and CIPP's
``ExecApiClient?Action=AddUpdate`` take no If-Match precondition (Microsoft documents only the
Authorization and Content-Type headers for those PATCHes; the simulator models that and ignores
If-Match too), so a write cannot be made conditional. Instead:

- the target is re-read immediately before each write. When it changed since the plan was re-made, the
  plan's delta (what it changes between its ``before`` and ``after``) is rebased onto that fresh state
  (fixes.graph_json.rebase: lists by element added/removed, objects key by key, a scalar the plan
  changes takes the plan's value, everything else keeps the fresh value) and only that is sent — for a
  named location still the whole ``ipRanges`` list Graph requires, built from the fresh read plus the
  plan's additions minus its removals. The audit message notes the merge. When the fresh state changed
  a field the plan changes in a different way, the write is refused as stale. A delete (or SaveToAzure)
  of a target that changed is refused as stale too;
- after the write, the read-back is compared with what was expected (that fresh state plus the delta).
  When it holds a change the plan did not make, or lacks something the fresh state had, the record's
  outcome is CONFLICT ("applied-with-conflict") and its message names what differs: the change took,
  so it can be rolled back where the rules allow, but someone must look.

Rollback of a record restores exactly what the record changed: the same properties, with the values
they had before (a created policy is deleted; an API client gets its previous ranges back), through the
same guards, pre-write re-read and conflict check. It is refused when the target changed since the
record (it would overwrite later work), when the previous state cannot be written (see fixes.cipp and
fixes.trusted_location), and for whatever :meth:`fixes.audit.AuditEntry.rollback_refusal` says
(nothing changed, already rolled back, SaveToAzure, a delete, a failed write whose state is unknown).

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
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from connectors.pacing import Pacer
from db import open_database
from db.posture_store import current_findings
from fixes import audit, cipp
from fixes.audit import AuditEntry
from fixes.catalogue import FIXES, fix_for_finding
from fixes.cidr import parse_address
from fixes.context import FixContext
from fixes.exposure import Confirmation, confirmation
from fixes.graph_json import merge_patch, restore_body, same
from fixes.model import (
    APPLIED,
    CONFLICT,
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
    Outcome,
    Plan,
    SentCall,
    Target,
)
from fixes.plans import checked_id
from fixes.writes import (
    COLLECTIONS,
    SERVICE_ERRORS,
    conflicts,
    guard,
    read_quietly,
    read_target,
    rebase_on_fresh_read,
    short,
    staleness,
    verify,
    write_problem,
)
from graphjson.times import utcnow
from settings import Settings


@dataclass(frozen=True)
class Offer:
    """A fix the latest findings offer: the finding, the request it maps to, and the fix's inputs."""

    finding: dict[str, Any]
    request: FixRequest
    spec: FixSpec

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.finding.get("check"),
            "status": self.finding.get("status"),
            "severity": self.finding.get("severity"),
            "tenantId": self.request.tenant_id,
            "subject": self.finding.get("subject"),
            "message": self.finding.get("message"),
            "fix": self.spec.as_dict(),
            "request": self.request.as_dict(),
        }


class FixEngine:
    def __init__(
        self,
        settings: Settings,
        db: Engine,
        *,
        pacer: Pacer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock  # naive UTC; the evidence of a switch-on is read up to it
        # One pacer for the engine's life, so consecutive operations stay within Graph's limits too.
        self.pacer = pacer or Pacer()
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> FixEngine:
        """The engine on the configured database (migrations applied)."""
        return cls(settings, open_database(settings.database_url))

    # --- public API -------------------------------------------------------------------------------

    def plan(self, request: FixRequest) -> Plan:
        """Read the target and build the exact requests; writes nothing. Raises BadInput."""
        return self._run(lambda ctx: self._plan(ctx, request))

    def plan_rollback(self, audit_id: int, egress_ip: str = "") -> Plan:
        """The plan that would undo audit record ``audit_id`` (``refusal`` says when it cannot).
        ``egress_ip`` is the operator's own public IP, which the guards need when the rollback takes
        ranges from a location an enabled block policy exempts, or leaves a block policy on."""
        return self._run(lambda ctx: self._plan_rollback(ctx, audit_id, egress_ip))

    def apply(self, plan: Plan, actor: Actor, *, acknowledge_warnings: bool = False) -> Outcome:
        """Guard, apply, verify and audit ``plan`` (a fix's or a rollback's). Raises PermissionError
        for a non-operator (after recording the attempt)."""
        self._authorise(actor, plan)
        return self._run(lambda ctx: self._apply(ctx, plan, actor, acknowledge_warnings))

    def rollback(
        self, audit_id: int, actor: Actor, *, acknowledge_warnings: bool = False, egress_ip: str = ""
    ) -> Outcome:
        """Undo audit record ``audit_id``: plan the rollback (read-only), then apply it."""
        return self.apply(
            self.plan_rollback(audit_id, egress_ip), actor, acknowledge_warnings=acknowledge_warnings
        )

    def confirmation(self, plan: Plan) -> Confirmation:
        """What ``plan`` does that needs a typed confirmation (fixes.exposure): the same rule for a fix
        and a rollback; undoing a rollback re-applies the fix, so it re-creates no finding."""
        undone = audit.entry(self.db, plan.rollback_of) if plan.rollback_of is not None else None
        return confirmation(plan, undoes_a_rollback=undone is not None and undone.rollback_of is not None)

    def rollback_reason(self, record: AuditEntry) -> str | None:
        """Why ``record`` cannot be rolled back, as far as the records tell (None: a rollback can be
        planned; it may still be refused when the target changed since, or by the guards)."""
        done = audit.rolled_back_by(self.db, record.id)
        return record.rollback_refusal(done.id if done is not None else None)

    def rollback_reasons(self, records: list[AuditEntry]) -> dict[int, str | None]:
        """:meth:`rollback_reason` of each record, by id, in one query."""
        undone = audit.rollbacks_of(self.db, [r.id for r in records])
        return {r.id: r.rollback_refusal(undone.get(r.id)) for r in records}

    def offers(self) -> list[Offer]:
        """The fixes the latest findings offer (accepted risks left out), one per distinct request."""
        with self.db.connect() as conn:
            findings = current_findings(conn, utcnow()).findings
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
            async with FixContext(self.settings, self.db, self.pacer, self.clock) as ctx:
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
        plan = await spec.planner(ctx, request)
        await guard(ctx, plan)
        return plan

    async def _replan(self, ctx: FixContext, plan: Plan) -> Plan:
        if plan.rollback_of is not None:
            return await self._plan_rollback(ctx, plan.rollback_of, plan.request.egress_ip)
        return await self._plan(ctx, plan.request)

    # --- rollback planning --------------------------------------------------------------------------

    async def _plan_rollback(self, ctx: FixContext, audit_id: int, egress_ip: str = "") -> Plan:
        record = self.audit_entry(audit_id)
        egress_ip = egress_ip.strip()
        if egress_ip:
            parse_address(egress_ip)  # bad input is told before anything is read
        target = Target(record.target_type, record.target_id, record.target_name)
        request = FixRequest(record.fix_id, record.tenant_id, record.target_id, egress_ip=egress_ip)
        if record.fix_id in audit.DASHBOARD_CHANGES:  # Perimeter's own change: nothing in a tenant to read
            plan = Plan(request, f"Roll back #{audit_id}", f"Undo #{audit_id}", target, None, None)
            plan.rollback_of, plan.refusal = audit_id, record.rollback_refusal()
            return plan
        current = await read_target(ctx, record.tenant_id, target)
        plan = Plan(
            request,
            f"Roll back #{audit_id}",
            f"Undo #{audit_id}: {record.message}",
            target,
            current,
            current,
            rollback_of=audit_id,
        )
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
            plan.requests, plan.after = (
                [ctx.graph_call(record.tenant_id, "PATCH", path, body)],
                merge_patch(current, body),
            )
        else:  # POST: the fix created the object
            plan.requests, plan.after = [ctx.graph_call(record.tenant_id, "DELETE", path)], None
        await guard(ctx, plan)  # judged exactly like a forward fix
        return plan

    async def _rollback_refusal(self, record: AuditEntry, current: Any) -> str | None:
        reason = self.rollback_reason(record)
        if reason:
            return reason
        if not same(current, record.after):
            return (
                f"'{record.target_name}' changed since #{record.id}: rolling back would overwrite those "
                "later changes; review it and change it by hand"
            )
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
        refusal = (
            staleness(plan, fresh)
            or fresh.refusal
            or (
                None
                if acknowledged or not fresh.warnings
                else f"the plan has {len(fresh.warnings)} warning(s) to acknowledge first: "
                f"{fresh.warnings[0]}"
            )
        )
        if refusal:
            return self._refuse(actor, fresh, refusal)
        # The last read before the write: no precondition header exists, so rebase onto it (module doc).
        try:
            ready, merged, refusal = await rebase_on_fresh_read(ctx, fresh)
        except SERVICE_ERRORS as error:
            return self._record(
                actor,
                fresh,
                FAILED,
                f"could not read the target just before the write: {error}",
                fresh.before,
            )
        if refusal:
            return self._refuse(actor, ready, refusal)
        sent: list[SentCall] = []
        target = ready.target
        try:
            for call in ready.requests:
                status, response = await ctx.send(ready.tenant_id, call)
                sent.append(SentCall(call, status, short(response)))
                problem = write_problem(call, status, response)
                if problem:
                    after = await read_quietly(ctx, ready.tenant_id, target)
                    return self._record(actor, ready, FAILED, problem, ready.before, after, sent, target)
                if call.method == "POST" and call.service == "graph" and isinstance(response, dict):
                    target = replace(target, id=str(response.get("id") or ""))
        except SERVICE_ERRORS as error:  # the write may or may not have happened: say so, read back
            after = await read_quietly(ctx, ready.tenant_id, target)
            return self._record(
                actor,
                ready,
                FAILED,
                f"the write failed ({error}); see the state read back",
                ready.before,
                after,
                sent,
                target,
            )
        after, problem = await verify(ctx, ready, target)
        if problem:
            return self._record(
                actor, ready, VERIFY_FAILED, f"{ready.summary}: {problem}", ready.before, after, sent, target
            )
        outcome = ROLLED_BACK if ready.rollback_of is not None else APPLIED
        message = ready.summary
        if merged:
            fields = ", ".join(merged)
            message += f" (merged with a change made meanwhile by someone else, which is kept: {fields})"
        clashes = conflicts(ready, after)
        if clashes:
            outcome = CONFLICT
            message += (
                f"; but '{target.name}' reads back differently than this change alone would leave "
                f"it: {'; '.join(clashes)} (another change landed at the same time: review it)"
            )
        return self._record(actor, ready, outcome, message, ready.before, after, sent, target)

    def _refuse(self, actor: Actor, plan: Plan, refusal: str) -> Outcome:
        planned = [SentCall(call, None) for call in plan.requests]
        return self._record(actor, plan, REFUSED, refusal, plan.before, plan.before, planned)

    def _record(
        self,
        actor: Actor,
        plan: Plan,
        outcome: str,
        message: str,
        before: Any = None,
        after: Any = None,
        sent: list[SentCall] | None = None,
        target: Target | None = None,
    ) -> Outcome:
        target = target or plan.target
        sent = sent or []
        recorded = message
        if plan.evidence is not None:  # what a switch-on relied on stays with its record
            recorded = f"{message} | evidence: {orjson.dumps(plan.evidence).decode()}"
        audit_id = audit.append(
            self.db,
            at=utcnow(),
            actor=actor.name.strip() or "(anonymous)",
            tenant_id=plan.tenant_id,
            fix_id=plan.request.fix_id,
            target_type=target.type,
            target_id=target.id,
            target_name=target.name,
            outcome=outcome,
            message=recorded,
            before=before,
            after=after,
            requests=[s.as_dict() for s in sent],
            rollback_of=plan.rollback_of,
        )
        return Outcome(outcome, message, replace(plan, target=target), audit_id, before, after, sent)
