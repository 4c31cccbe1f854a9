"""Small builders the fix families share: checking the request, and plans for Graph objects."""

from __future__ import annotations

import re
from typing import Any

from fixes.context import FixContext
from fixes.graph_json import Path, merge_patch, patch_body
from fixes.model import BadInput, FixRequest, Plan, Target, shown_text
from graphjson.values import lower
from posture.graph import policy_id, policy_name

# Graph object ids and CIPP client ids are GUIDs; anything else must never reach a URL path.
_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")


def checked_id(value: str, what: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise BadInput(f"'{shown_text(value)}' is not a valid {what} id")
    return value


def require_msp(ctx: FixContext, request: FixRequest) -> None:
    if lower(request.tenant_id) != lower(ctx.msp_tenant_id):
        raise BadInput(
            f"{request.fix_id} changes the MSP tenant ({ctx.msp_tenant_id}) only, not {request.tenant_id}"
        )


def require_target(request: FixRequest, what: str) -> str:
    if not request.target_id.strip():
        raise BadInput(f"{request.fix_id} needs the {what} id (--target)")
    return checked_id(request.target_id.strip(), what)


def policy_target(policy: dict[str, Any]) -> Target:
    return Target("policy", policy_id(policy), policy_name(policy))


async def read_policy(ctx: FixContext, request: FixRequest) -> dict[str, Any]:
    """The request's target policy, read fresh."""
    wanted = require_target(request, "policy")
    policy = await ctx.policy(request.tenant_id, wanted)
    if policy is None:
        raise BadInput(f"no Conditional Access policy {wanted} in tenant {request.tenant_id}")
    return policy


def patch_plan(
    ctx: FixContext,
    request: FixRequest,
    title: str,
    summary: str,
    target: Target,
    path: str,
    before: dict[str, Any],
    changes: dict[Path, Any],
    *,
    warnings: list[str] | None = None,
    notes: list[str] | None = None,
) -> Plan:
    """A PATCH of only ``changes`` (each path sent as a complete sub-object) to ``path``."""
    body = patch_body(before, changes)
    return Plan(
        request,
        title,
        summary,
        target,
        before,
        merge_patch(before, body),
        [ctx.graph_call(request.tenant_id, "PATCH", path, body)],
        warnings=warnings or [],
        notes=notes or [],
    )


def create_plan(
    ctx: FixContext,
    request: FixRequest,
    title: str,
    summary: str,
    target: Target,
    collection: str,
    body: dict[str, Any],
    *,
    warnings: list[str] | None = None,
    notes: list[str] | None = None,
) -> Plan:
    """A POST creating a new object in ``collection`` (nothing before it)."""
    return Plan(
        request,
        title,
        summary,
        target,
        None,
        body,
        [ctx.graph_call(request.tenant_id, "POST", collection, body)],
        warnings=warnings or [],
        notes=notes or [],
    )


def unchanged(request: FixRequest, title: str, target: Target, before: Any, why: str) -> Plan:
    return Plan(request, title, f"nothing to change: {why}", target, before, before, unchanged=True)
