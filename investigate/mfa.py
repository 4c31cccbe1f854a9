"""MFA coverage of each tenant, from a snapshot and the posture findings of the same evaluation.

The numbers follow posture's own rules (MFA-1's enabled member users, MFA-2's admins, MFA-3's
enforcement) so the MFA page and the Posture page never disagree; only the registered-method counts,
which no check reports, are computed here — over the same members MFA-1 counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphjson.values import lower, text
from posture.checks.mfa import enabled_ids, is_member  # MFA-1's definition of an enabled member
from posture.options import PostureOptions
from posture.view import SnapshotView

SECURITY_DEFAULTS = "securityDefaults"
CONDITIONAL_ACCESS = "conditionalAccess"
NONE = "none"
UNKNOWN = "unknown"
ENFORCEMENT_WORDS = {
    SECURITY_DEFAULTS: "security defaults",
    CONDITIONAL_ACCESS: "Conditional Access",
    NONE: "not enforced",
    UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class TenantMfa:
    tenant_id: str
    enabled_members: int
    mfa_capable: int
    mfa_registered: int
    admins: int
    admins_capable: int
    enforcement: str
    enforcement_detail: str
    methods: dict[str, int] = field(default_factory=dict)

    @property
    def coverage(self) -> float | None:
        return self.mfa_capable / self.enabled_members if self.enabled_members else None


def _first_by_check_and_tenant(findings: Iterable[Any]) -> dict[tuple[str, str], Any]:
    """The first finding of each (check, lower-case tenant id): found once, not searched per tenant."""
    first: dict[tuple[str, str], Any] = {}
    for f in findings:
        first.setdefault((f.check, lower(f.tenant_id)), f)
    return first


def enforcement(finding: Any | None) -> tuple[str, str]:
    """(how MFA is enforced, in a few words) from the tenant's MFA-3 finding."""
    if finding is None or finding.status == "n/a":
        return UNKNOWN, finding.message if finding is not None else "not evaluated"
    evidence = finding.evidence or {}
    if finding.status in ("pass", "accepted") and evidence.get("securityDefaults") is True:
        return SECURITY_DEFAULTS, "security defaults are on"
    enabled = [p for p in evidence.get("policies") or [] if lower(p.get("state")) == "enabled"]
    if finding.status == "pass" and enabled:
        return CONDITIONAL_ACCESS, f"'{text(enabled[0].get('name'))}'"
    if finding.status == "warn" and enabled:  # enforced, with exceptions MFA-3 names (catalogue v2)
        exceptions = [text(e) for e in evidence.get("exceptions") or []]
        return CONDITIONAL_ACCESS, f"'{text(enabled[0].get('name'))}' except {'; '.join(exceptions)}"
    if finding.status == "pass":
        return CONDITIONAL_ACCESS, finding.message
    return NONE, finding.message


def coverage(
    snapshot: dict[str, Any], findings: list[Any], options: PostureOptions | None = None
) -> list[TenantMfa]:
    """One row per tenant whose registration details were collected."""
    view = SnapshotView(snapshot, options or PostureOptions())
    first = _first_by_check_and_tenant(findings)
    out = []
    for tenant in view.tenants:
        registrations = tenant.objects("userRegistrationDetails")
        if registrations is None:
            continue
        enabled = enabled_ids(tenant) if tenant.objects("users") is not None else None
        members = [
            r
            for r in registrations
            if isinstance(r, dict)
            and is_member(r, tenant)
            and (enabled is None or lower(r.get("id")) in enabled)
        ]
        methods: Counter[str] = Counter()
        for registration in members:
            for method in registration.get("methodsRegistered") or []:
                if isinstance(method, str):
                    methods[method] += 1
        mfa1 = first.get(("MFA-1", lower(tenant.id)))
        evidence = (mfa1.evidence if mfa1 is not None else {}) or {}
        enabled_members = int(evidence.get("enabledMembers", len(members)))
        capable = int(evidence.get("mfaCapable", sum(r.get("isMfaCapable") is True for r in members)))
        mfa2 = first.get(("MFA-2", lower(tenant.id)))
        admins_evidence = (mfa2.evidence if mfa2 is not None else {}) or {}
        admins = int(admins_evidence.get("admins", 0))
        how, detail = enforcement(first.get(("MFA-3", lower(tenant.id))))
        out.append(
            TenantMfa(
                tenant_id=tenant.id,
                enabled_members=enabled_members,
                mfa_capable=capable,
                mfa_registered=sum(r.get("isMfaRegistered") is True for r in members),
                admins=admins,
                admins_capable=admins - len(admins_evidence.get("notCapable") or []),
                enforcement=how,
                enforcement_detail=detail,
                methods=dict(methods.most_common()),
            )
        )
    view.release()  # the snapshot is freed as soon as the caller lets go (SnapshotView.release)
    return out


METHOD_NAMES = {
    "microsoftAuthenticatorPush": "Authenticator (push)",
    "microsoftAuthenticatorPasswordless": "Authenticator (passwordless)",
    "softwareOneTimePasscode": "Software OTP",
    "hardwareOneTimePasscode": "Hardware OTP",
    "mobilePhone": "Mobile phone (SMS/voice)",
    "alternateMobilePhone": "Alternate phone",
    "officePhone": "Office phone",
    "email": "Email",
    "fido2": "FIDO2 security key",
    "windowsHelloForBusiness": "Windows Hello for Business",
    "passKeyDeviceBound": "Passkey (device-bound)",
    "passKeyDeviceBoundAuthenticator": "Passkey (Authenticator)",
    "securityQuestion": "Security questions",
    "temporaryAccessPass": "Temporary Access Pass",
}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)
