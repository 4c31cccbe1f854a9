"""Sign-in error codes (``status.errorCode``): their meaning, and the reason they are grouped under.

Meanings follow REFERENCE.md (Microsoft's AADSTS documentation). A code not listed here falls back to
the sign-in's own ``failureReason``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Reasons (what the timeline stacks by), most actionable first.
CA_BLOCK = "Blocked by Conditional Access"
DEVICE = "Device requirement not met"
MFA_FAILED = "MFA not completed"
MFA_REQUIRED = "MFA required"
MFA_REGISTRATION = "MFA registration required"
BAD_PASSWORD = "Wrong username or password"
LOCKED = "Locked out or malicious IP"
DISABLED = "Account disabled"
PASSWORD_EXPIRED = "Password expired"
OTHER = "Other failure"

REASONS: tuple[str, ...] = (
    CA_BLOCK,
    DEVICE,
    MFA_FAILED,
    MFA_REQUIRED,
    MFA_REGISTRATION,
    BAD_PASSWORD,
    LOCKED,
    DISABLED,
    PASSWORD_EXPIRED,
    OTHER,
)


@dataclass(frozen=True)
class ErrorCode:
    code: int
    meaning: str
    reason: str


_CODES = (
    ErrorCode(53003, "blocked by Conditional Access", CA_BLOCK),
    ErrorCode(
        53000, "device not compliant (a Conditional Access policy requires a compliant device)", DEVICE
    ),
    ErrorCode(
        53001,
        "device not domain-joined (a Conditional Access policy requires a hybrid-joined device)",
        DEVICE,
    ),
    ErrorCode(
        53002,
        "application not approved (a Conditional Access policy requires an approved client app)",
        DEVICE,
    ),
    ErrorCode(53004, "MFA registration blocked due to risk", MFA_REGISTRATION),
    ErrorCode(50074, "strong authentication required; the MFA challenge was not passed", MFA_FAILED),
    ErrorCode(500121, "strong authentication failed (MFA denied or not completed)", MFA_FAILED),
    ErrorCode(50158, "external security challenge not satisfied", MFA_FAILED),
    ErrorCode(50076, "MFA required (Conditional Access, per-user MFA or a new location)", MFA_REQUIRED),
    ErrorCode(50079, "MFA registration required", MFA_REGISTRATION),
    ErrorCode(50126, "invalid username or password", BAD_PASSWORD),
    ErrorCode(50053, "account locked after repeated failures, or sign-in from a malicious IP", LOCKED),
    ErrorCode(50057, "user account disabled", DISABLED),
    ErrorCode(50055, "password expired", PASSWORD_EXPIRED),
)
CODES: dict[int, ErrorCode] = {c.code: c for c in _CODES}


def describe(code: int, failure_reason: str = "") -> ErrorCode:
    """The code's entry; an unknown code keeps Graph's own failure reason as its meaning."""
    known = CODES.get(code)
    if known is not None:
        return known
    if code == 0:
        return ErrorCode(0, "success", "")
    return ErrorCode(code, failure_reason.strip() or f"error {code}", OTHER)
