"""Sign-in error codes (``status.errorCode``): their meaning, the reason they are grouped under, and
which failures are *blocks* (what the Blocked sign-ins page and the wall count by default).

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


# --- blocked, as opposed to every failure ------------------------------------------------------------

# A sign-in is *blocked* when something stood in the way of a person who knew the password: Conditional
# Access (a block, a device or app requirement), MFA not completed or not registered, a locked or a
# disabled account. A wrong or expired password is a failure but not a block: a password spray would
# otherwise drown the blocks an investigator (and the wall) is looking for.
BLOCKED_REASONS: frozenset[str] = frozenset(
    {CA_BLOCK, DEVICE, MFA_FAILED, MFA_REQUIRED, MFA_REGISTRATION, LOCKED, DISABLED}
)
BLOCKED_CODES: frozenset[int] = frozenset(c.code for c in _CODES if c.reason in BLOCKED_REASONS)

# What a count counts (the investigation's "Count" filter, ``failures=`` in its URL).
BLOCKED = "blocked"
ALL_FAILURES = "all"
FAILURE_KINDS: dict[str, str] = {BLOCKED: "Blocked", ALL_FAILURES: "All failures"}
BLOCKED_MEANING = (
    "Blocked: by Conditional Access (block, device or app requirement), MFA not completed or not "
    "registered, account locked or disabled. Not counted as blocked: wrong or expired passwords and "
    "other failures (choose 'All failures' for those)."
)


def is_blocked(code: int) -> bool:
    """Whether a failed sign-in with this error code was blocked (see BLOCKED_REASONS)."""
    return code in BLOCKED_CODES


def counted_codes(kind: str, chosen: tuple[int, ...] = ()) -> tuple[int, ...] | None:
    """The error codes a count of ``kind`` takes, narrowed to ``chosen`` when any are chosen; None:
    every failure. Blocked with chosen codes that are not blocks gives () (nothing is counted)."""
    if kind == ALL_FAILURES:
        return tuple(chosen) if chosen else None
    if chosen:
        return tuple(c for c in chosen if is_blocked(c))
    return tuple(sorted(BLOCKED_CODES))
