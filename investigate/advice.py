"""What a Conditional Access result means and what to do about it, in one line per policy.

Entra's "Conditional Access" tab of a sign-in lists every policy with its result; the investigation
shows the same list (investigate.explain.policy_results) and adds a line a technician can act on: for a
failure the fix or what the user must do, for every other result what it means. Pure functions of the
result, the policy's grant controls and the sign-in's facts (no tenant data).
"""

from __future__ import annotations

from collections.abc import Iterable

# Graph's appliedConditionalAccessPolicies[].result, as Entra's Conditional Access tab words it.
RESULT_WORDS: dict[str, str] = {
    "failure": "Failure",
    "success": "Success",
    "notapplied": "Not applied",
    "notenabled": "Disabled",
    "reportonlyfailure": "Report-only: Failure",
    "reportonlyinterrupted": "Report-only: User action required",
    "reportonlysuccess": "Report-only: Success",
    "reportonlynotapplied": "Report-only: Not applied",
}
# Most telling first: what stopped the sign-in, what would have, what passed, what did not apply.
_ORDER = (
    "failure",
    "reportonlyfailure",
    "reportonlyinterrupted",
    "success",
    "reportonlysuccess",
    "notapplied",
    "reportonlynotapplied",
    "notenabled",
)

# Grant controls as sign-ins write them (enforcedGrantControls), lower-cased.
BLOCK = frozenset({"block"})
DEVICE = frozenset(
    {
        "requirecompliantdevice",
        "requiredomainjoineddevice",
        "compliantdevice",
        "domainjoineddevice",
    }
)
APPROVED_APP = frozenset({"requireapprovedapp", "requirecompliantapp", "approvedapplication"})
STRENGTH = frozenset({"requireauthenticationstrength", "authenticationstrength"})
MFA = frozenset({"mfa", "requiremfa"}) | STRENGTH
PASSWORD_CHANGE = frozenset({"passwordchange", "requirepasswordchange"})
TERMS = frozenset({"termsofuse", "tou"})

DEVICE_CODES = frozenset({53000, 53001})
APP_CODES = frozenset({53002})
MFA_REGISTRATION_CODES = frozenset({50079, 53004})
MFA_CODES = frozenset({50074, 50076, 500121, 50158}) | MFA_REGISTRATION_CODES


def result_words(result: str) -> str:
    """The result as Entra shows it; a value Graph adds later is shown as written."""
    return RESULT_WORDS.get(result.strip().lower(), result or "—")


def result_rank(result: str) -> int:
    key = result.strip().lower()
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)


def _listed(controls: Iterable[str]) -> str:
    return ", ".join(controls) or "no grant control"


def result_meaning(result: str, controls: Iterable[str]) -> str:
    """What a result other than a failure means (one line)."""
    key = result.strip().lower()
    grants = _listed(controls)
    return {
        "success": f"Applied and satisfied ({grants}): nothing to do.",
        "notapplied": "Its conditions (users, apps, locations, clients, risk) did not match this sign-in.",
        "notenabled": "The policy is off: it was not evaluated.",
        "reportonlyfailure": f"Report-only: would have stopped this sign-in ({grants}) if it were on; "
        "check this before turning it on.",
        "reportonlyinterrupted": "Report-only: the user would have been prompted (for MFA or a similar "
        "control) if it were on.",
        "reportonlysuccess": f"Report-only: would have been satisfied ({grants}) if it were on.",
        "reportonlynotapplied": "Report-only: its conditions did not match this sign-in.",
        "failure": f"Not satisfied ({grants}).",
    }.get(key, f"Graph reports the result '{result}'.")


def failure_advice(
    code: int,
    controls: Iterable[str],
    conditions_satisfied: Iterable[str],
    *,
    ip: str = "",
    client_app: str = "",
) -> str:
    """What to do about a policy that failed (one line): what the user must do, or what to change. The
    error code says which of several grant controls was not met."""
    listed = [c for c in controls if c]
    grant = {c.strip().lower() for c in listed}
    satisfied = {c.strip().lower() for c in conditions_satisfied}
    where = ip or "this IP"
    if grant & BLOCK and (code == 53003 or not grant - BLOCK):
        if "clienttype" in satisfied:
            return (
                f"Use a modern-authentication client (Outlook, a browser): '{client_app or 'this client'}' "
                "is a legacy protocol the policy blocks on purpose."
            )
        if "location" in satisfied:
            return (
                f"Working as designed unless {where} is yours: if it is an office's egress IP, add it to a "
                "trusted named location; otherwise treat the attempt as suspicious."
            )
        return (
            "Blocked by design: if this person needs access, review the policy's users and apps "
            "(an exclusion, after review)."
        )
    if grant & DEVICE and (code in DEVICE_CODES or not grant & MFA):
        return (
            "Sign in from a compliant (Intune-enrolled) or hybrid-joined device, or enrol this one; "
            "check its compliance in Intune."
        )
    if grant & APPROVED_APP and (code in APP_CODES or not grant & MFA):
        return "Use an approved client app (e.g. Outlook mobile) protected by an app protection policy."
    if grant & MFA:
        if code in MFA_REGISTRATION_CODES:
            return (
                "The user must register an MFA method (https://aka.ms/mysecurityinfo), from a place "
                "the registration policy allows."
            )
        if grant & STRENGTH:
            return "The user must sign in with a method the required authentication strength accepts."
        return (
            "The user must complete the MFA prompt. The first factor (usually the password) passed: if "
            "they did not start this sign-in, reset it and revoke their sessions."
        )
    if grant & PASSWORD_CHANGE:
        return "The user must change their password (a risk-based policy asks for it)."
    if grant & TERMS:
        return "The user must accept the terms of use."
    return f"Satisfy its grant controls ({_listed(listed)}) or review the policy."
