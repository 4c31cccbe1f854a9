"""PRE-1..3: what the MSP tenant needs before any perimeter policy can work."""

from __future__ import annotations

from collections.abc import Iterator

from graphjson.values import as_list, lower, text
from posture.check import Check, define_check
from posture.findings import Finding
from posture.graph import PREMIUM_PLANS
from posture.view import SnapshotView


@define_check(
    "PRE-1",
    severity="high",
    scope="MSP",
    title="Entra ID P1/P2 in the MSP tenant",
    rationale="Conditional Access, which every control of the perimeter relies on, needs Entra ID P1 or P2.",
)
def premium_licence(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    skus = check.require(msp.objects("subscribedSkus"), msp, "subscribed SKUs were not collected")
    unusable = []
    for sku in skus:
        for plan in as_list(sku.get("servicePlans")):
            if not isinstance(plan, dict):
                continue
            name = text(plan.get("servicePlanName"))
            if (
                name.upper() not in PREMIUM_PLANS
                and lower(plan.get("servicePlanId")) not in PREMIUM_PLANS.values()
            ):
                continue
            entry = {
                "skuPartNumber": text(sku.get("skuPartNumber")),
                "skuId": text(sku.get("skuId")),
                "capabilityStatus": sku.get("capabilityStatus"),
                "servicePlanName": name,
                "provisioningStatus": plan.get("provisioningStatus"),
            }
            usable = (
                lower(sku.get("capabilityStatus")) == "enabled"
                and lower(plan.get("provisioningStatus")) == "success"
            )
            if usable:
                yield check.about_tenant(
                    msp,
                    "pass",
                    f"{name} is provisioned in the enabled SKU '{entry['skuPartNumber']}'",
                    {"plan": entry},
                )
                return
            unusable.append(entry)
    if unusable:
        reasons = "; ".join(
            f"{e['servicePlanName']} in '{e['skuPartNumber']}' (SKU {e['capabilityStatus']}, "
            f"plan {e['provisioningStatus']})"
            for e in unusable
        )
        message = f"Entra ID P1/P2 is present but not usable: {reasons}"
    else:
        message = (
            "no subscribed SKU includes Entra ID P1 or P2 (AAD_PREMIUM, AAD_PREMIUM_P2) among "
            f"{len(skus)} SKU(s)"
        )
    yield check.about_tenant(
        msp,
        "fail",
        message,
        {
            "unusablePlans": unusable,
            "skus": [text(s.get("skuPartNumber"), text(s.get("skuId"))) for s in skus],
        },
    )


@define_check(
    "PRE-2",
    severity="high",
    scope="MSP",
    title="Security defaults disabled in the MSP tenant",
    rationale="While security defaults are on, Conditional Access policies cannot be enforced.",
)
def security_defaults_disabled(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    enabled = (msp.raw.get("securityDefaults") or {}).get("isEnabled")
    if not isinstance(enabled, bool):
        yield check.about_tenant(msp, "n/a", "security defaults were not collected (no isEnabled)")
    elif enabled:
        yield check.about_tenant(
            msp,
            "fail",
            "security defaults are on: turn them off so that Conditional Access policies can be enforced",
            {"isEnabled": True},
        )
    else:
        yield check.about_tenant(msp, "pass", "security defaults are off", {"isEnabled": False})


@define_check(
    "PRE-3",
    severity="critical",
    scope="MSP",
    title="A break-glass account exists and is enabled",
    rationale="If an IP restriction goes wrong, a break-glass account is the only way back into the tenant.",
)
def break_glass_account(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    break_glass = check.require(snapshot.break_glass, msp, "the MSP tenant's users were not collected")
    how = "configured" if break_glass.configured else "detected by name"
    evidence = {
        "source": "msp.breakGlassUpns" if break_glass.configured else "name pattern",
        "accounts": [a.as_evidence() for a in break_glass.accounts],
        "missingUpns": break_glass.missing_upns,
    }
    if not break_glass.configured:
        evidence["pattern"] = snapshot.options.break_glass_pattern
    enabled = [a for a in break_glass.accounts if a.enabled]
    disabled = [a for a in break_glass.accounts if not a.enabled]
    notes = []
    if break_glass.missing_upns:
        notes.append(f"configured but not found: {', '.join(break_glass.missing_upns)}")
    if disabled:
        notes.append(f"disabled: {', '.join(a.label for a in disabled)}")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if enabled:
        yield check.about_tenant(
            msp,
            "pass",
            f"break-glass account(s) {how} and enabled: {', '.join(a.label for a in enabled)}{suffix}",
            evidence,
        )
    elif disabled:
        yield check.about_tenant(msp, "fail", f"every break-glass account is disabled{suffix}", evidence)
    elif break_glass.configured:
        yield check.about_tenant(
            msp,
            "fail",
            f"none of the configured break-glass accounts exists in the MSP tenant{suffix}",
            evidence,
        )
    else:
        yield check.about_tenant(
            msp,
            "fail",
            "no break-glass account: no user's UPN or display name matches "
            "the break-glass pattern, and msp.breakGlassUpns is empty",
            evidence,
        )
