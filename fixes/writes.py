"""Around every write of the fix engine (fixes.engine): the guards on the plan, the target read once
more and the plan rebased on a change made meanwhile, the read-back that verifies the write, and what a
refused or failed write is called. Module functions: the engine calls them, nothing keeps state."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from connectors.cipp import CippError
from connectors.graph import GraphError
from fixes import cipp, guards
from fixes.context import NAMED_LOCATIONS, POLICIES, FixContext
from fixes.graph_json import delta_took, differences, matches, merge_patch, rebase, restore_body, same
from fixes.model import (
    HttpCall,
    Plan,
    Target,
)
from fixes.plans import switch_on_evidence
from posture.checks.cipp import client_ranges
from posture.graph import ENABLED, policy_state

COLLECTIONS = {"policy": POLICIES, "namedLocation": NAMED_LOCATIONS}  # Graph targets by type
SERVICE_ERRORS = (GraphError, CippError)  # a Graph or CIPP call failed for good (already retried)
VERIFY_ATTEMPTS = 3  # Graph may take a moment to show its own write
VERIFY_DELAY_S = 1.0


# --- guarding, rebasing --------------------------------------------------------------------------------


def switches_policy_on(plan: Plan) -> bool:
    """Whether the write takes a policy that exists and is not on (report-only, off) to On."""
    return (
        plan.target.type == "policy"
        and isinstance(plan.before, dict)
        and isinstance(plan.after, dict)
        and policy_state(plan.before) != ENABLED
        and policy_state(plan.after) == ENABLED
    )


async def guard(ctx: FixContext, plan: Plan) -> None:
    """The one guard set (fixes.guards) on a plan that would write; its refusal goes into the plan.
    A write that switches a policy On, in any tenant and by any fix or rollback, is also judged by what
    the policy did in report-only (fixes.plans.switch_on_evidence): refusal, warnings and evidence."""
    if plan.ready and plan.requests:
        if switches_policy_on(plan):  # first: what the policy really did is the clearest refusal
            await switch_on_evidence(ctx, plan, plan.after)
        plan.refusal = plan.refusal or await guards.write_refusal(ctx, plan, plan.request.egress_ip)


def stale_before_write(plan: Plan, detail: str = "") -> str:
    return (
        f"'{plan.target.name}' changed just before the write{detail}: nothing was written; review it and "
        "plan again"
    )


async def rebase_on_fresh_read(ctx: FixContext, plan: Plan) -> tuple[Plan, list[str], str | None]:
    """(the plan to send, fields merged from a change made meanwhile, why not to write or None), from
    the target read once more just before the write."""
    call = plan.requests[0]
    if call.method == "POST" and call.service == "graph":
        return plan, [], None  # creates a new object: nothing to re-read
    current = await read_target(ctx, plan.tenant_id, plan.target)
    if same(current, plan.before):
        return plan, [], None
    if (
        call.method == "DELETE"
        or plan.target.type == "azureConfiguration"
        or not isinstance(current, dict)
        or not isinstance(plan.after, dict)
    ):
        return plan, [], stale_before_write(plan)
    rebased = rebase(plan.before, plan.after, current)
    if rebased.clashes:
        fields = ", ".join(rebased.clashes)
        return plan, [], stale_before_write(plan, f", in {fields}, which this change sets too")
    if call.service == "graph":
        body = restore_body(call.body, rebased.value)
        ready = replace(
            plan, before=current, after=merge_patch(current, body), requests=[replace(call, body=body)]
        )
    else:  # AddUpdate resends the whole row: the fresh row with the plan's ranges change
        body = cipp.add_update_body(rebased.value, client_ranges(rebased.value) or [])
        ready = replace(plan, before=current, after=rebased.value, requests=[replace(call, body=body)])
    ready.refusal = await guards.write_refusal(ctx, ready, plan.request.egress_ip)  # on what is now written
    return ready, rebased.merged, ready.refusal


# --- reading, verifying -------------------------------------------------------------------------------


async def read_target(ctx: FixContext, tenant_id: str, target: Target) -> Any:
    """The target as it reads now (None when it does not exist)."""
    if target.type == "apiClient":
        return await cipp.read_client(ctx, target.id)
    if target.type == "azureConfiguration":
        return await cipp.read_azure_state(ctx)
    if not target.id:
        return None  # to be created
    return await ctx.get(tenant_id, f"{COLLECTIONS[target.type]}/{target.id}")


async def read_quietly(ctx: FixContext, tenant_id: str, target: Target) -> Any:
    """The target after a failed write, for the record; None when even that cannot be read."""
    try:
        return await read_target(ctx, tenant_id, target)
    except SERVICE_ERRORS:
        return None


async def verify(ctx: FixContext, plan: Plan, target: Target) -> tuple[Any, str | None]:
    """(the target read back, why the change did not take or None)."""
    problem: str | None = None
    after: Any = None
    for attempt in range(VERIFY_ATTEMPTS):
        if attempt:
            await asyncio.sleep(VERIFY_DELAY_S)
        try:
            after = await read_target(ctx, plan.tenant_id, target)
        except SERVICE_ERRORS as error:
            after, problem = None, f"it could not be read back ({error})"
            continue
        problem = verify_problem(plan, after)
        if problem is None:
            return after, None
    return after, problem


def verify_problem(plan: Plan, after: Any) -> str | None:
    call = plan.requests[0]
    if call.method == "DELETE":
        return None if after is None else "it still exists after the delete"
    if after is None:
        return "it cannot be read back"
    if plan.target.type == "azureConfiguration":
        return (
            None
            if cipp.azure_ids(after) == cipp.azure_ids(plan.after)
            else "Azure's client ids read back differently"
        )
    if call.method == "POST" and call.service == "graph":  # created
        return None if matches(after, call.body) else "the change did not take: it reads back differently"
    # The change from the state just before the write must be there (other changes are conflicts).
    return (
        None
        if delta_took(plan.before, plan.after, after)
        else "the change did not take: it reads back differently"
    )


def conflicts(plan: Plan, after: Any) -> list[str]:
    """What the read-back shows beyond the state just before the write plus this change."""
    call = plan.requests[0]
    created = call.method == "POST" and call.service == "graph"
    if created or call.method == "DELETE" or plan.target.type == "azureConfiguration":
        return []
    return differences(plan.after, after)


def staleness(plan: Plan, fresh: Plan) -> str | None:
    if same(plan.before, fresh.before) and same(
        [c.as_dict() for c in plan.requests], [c.as_dict() for c in fresh.requests]
    ):
        return None
    return (
        f"'{fresh.target.name}' changed since the plan was made: review the new plan before applying "
        "(re-plan)"
    )


def write_problem(call: HttpCall, status: int, response: Any) -> str | None:
    """Why a write failed, from its answer (CIPP answers 200 even when it rejects ranges)."""
    if status >= 400:
        error = response.get("error") if isinstance(response, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        return f"{'Graph' if call.service == 'graph' else 'CIPP-API'} answered HTTP {status}" + (
            f": {detail}" if detail else ""
        )
    if call.service == "cipp" and isinstance(response, list):
        rejected = [r for r in response if isinstance(r, str) and "is not a valid" in r]
        if rejected:
            return f"CIPP-API rejected the change: {rejected[0]}"
    return None


def short(response: Any) -> Any:
    """What of an answer goes into the audit record: Graph errors and CIPP's result lines. Created
    objects are recorded as `after` instead, and secrets (CIPP's copyField) never."""
    if isinstance(response, dict) and "error" in response:
        return response["error"]
    if isinstance(response, list):
        return [
            r if isinstance(r, str) else {k: v for k, v in r.items() if k != "copyField"}
            for r in response
            if isinstance(r, str | dict)
        ]
    if isinstance(response, dict) and isinstance(response.get("Results"), str):
        return response["Results"]
    return None
