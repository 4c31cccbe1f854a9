"""The fix engine's vocabulary: who acts, what is asked, what would be sent, what happened.

Everything here is plain data (no I/O), so a page can keep a :class:`Plan` in its session state and
hand it back to :meth:`fixes.FixEngine.apply` later.
"""

from __future__ import annotations

import difflib
import getpass
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from graphjson.times import utcnow

OPERATOR_ROLE = "Operator"

# Audit outcomes (the audit_log.outcome column) and the one that writes no record.
APPLIED = "applied"
ROLLED_BACK = "rolled-back"
VERIFY_FAILED = "verified-failed"
# The change took, but the target read back with something the plan did not make (or without something
# it held just before the write): another change landed around the write. It changed something, so it
# can be rolled back where the rules allow; the record's message names what differs.
CONFLICT = "applied-with-conflict"
REFUSED = "refused"
FAILED = "failed"
UNCHANGED = "unchanged"  # nothing to change: no write, no audit record


SAVE_IRREVERSIBLE = (
    "SaveToAzure cannot be rolled back: CIPP-API only ever pushes the enabled clients' ids, "
    "so the previous list cannot be written back; enable or disable clients and save again "
    "instead"
)


class BadInput(ValueError):
    """The request cannot be planned as given. ``str()`` is one sentence meant for a person."""


def shown_text(text: str, limit: int = 60) -> str:
    """Typed text as it goes into a one-line message: control characters escaped, length bounded."""
    visible = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return visible if len(visible) <= limit else visible[: limit - 3] + "..."


def holds_role(roles: Iterable[str], role: str) -> bool:
    """Whether ``roles`` (a token's `roles` claim) holds ``role``. Entra app role values are
    case-sensitive, so the comparison is exact: "operator" is not "Operator". The one comparison of
    roles, for the engine and the dashboard alike."""
    if isinstance(roles, str):
        roles = (roles,)
    return any(isinstance(held, str) and held == role for held in roles)


def os_user() -> str:
    """The operating-system login name of this process (``unknown`` when there is none)."""
    try:
        return shown_text(getpass.getuser() or "unknown")
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: the identity from the login (or the CLI user) and its roles."""

    name: str
    roles: Iterable[str] = frozenset()

    def __post_init__(self) -> None:
        # Any iterable of role names (a token's `roles` claim is a list), or a single name.
        roles = (self.roles,) if isinstance(self.roles, str) else self.roles
        object.__setattr__(self, "roles", frozenset(roles))

    @property
    def is_operator(self) -> bool:
        return bool(self.name.strip()) and holds_role(self.roles, OPERATOR_ROLE)

    @classmethod
    def cli(cls, claimed: str | None = None) -> Actor:
        """The CLI user holds the secrets, so it acts as an operator. It is recorded as the OS user,
        ``cli:<os user>``, plus what it claims to be: ``cli:<os user> as <claimed>`` (the claim shown
        with control characters escaped and its length bounded, as it is only a claim)."""
        name = f"cli:{os_user()}"
        claim = claimed.strip() if isinstance(claimed, str) else ""
        if claim:
            name += f" as {shown_text(claim, 120)}"
        return cls(name, frozenset({OPERATOR_ROLE}))


@dataclass(frozen=True)
class FixRequest:
    """What to fix. ``target_id`` is the policy, named location or API client id ("" when the fix
    finds or creates its target); ``ranges`` are LOC-1's range(s) to add or C-1/C-2's new ranges;
    ``egress_ip`` is the operator's own public IP (the lockout guard of A-3)."""

    fix_id: str
    tenant_id: str
    target_id: str = ""
    ranges: tuple[str, ...] = ()
    egress_ip: str = ""

    def __post_init__(self) -> None:
        # A page may hand over a list (or one string); keep the request hashable and comparable.
        ranges = (self.ranges,) if isinstance(self.ranges, str) else self.ranges
        object.__setattr__(self, "ranges", tuple(ranges))

    def as_dict(self) -> dict[str, Any]:
        return {
            "fix": self.fix_id,
            "tenantId": self.tenant_id,
            "targetId": self.target_id,
            "ranges": list(self.ranges),
            "egressIp": self.egress_ip,
        }


@dataclass(frozen=True)
class Target:
    """The object a fix changes. ``type``: policy, namedLocation, apiClient, azureConfiguration."""

    type: str
    id: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "name": self.name}


@dataclass(frozen=True)
class HttpCall:
    """One request exactly as it will be sent. ``action`` names the CIPP-API action."""

    service: Literal["graph", "cipp"]
    method: str
    url: str
    body: Any = None
    action: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "body": self.body}


@dataclass
class Plan:
    """The exact requests of a fix and the state they start from, ready to be shown and applied.

    ``refusal`` is set when a guard refuses (the plan cannot be applied); ``unchanged`` when there is
    nothing to change; ``warnings`` must be acknowledged before applying; ``irreversible`` says why
    the change could not be rolled back (None: it can).
    """

    request: FixRequest
    title: str  # the fix's title
    summary: str  # this change in one sentence (or why there is nothing to change)
    target: Target
    before: Any
    after: Any  # how the target should read afterwards (for the diff)
    requests: list[HttpCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refusal: str | None = None
    unchanged: bool = False
    irreversible: str | None = None
    rollback_of: int | None = None
    planned_at: datetime = field(default_factory=utcnow)
    # What a switch-on relied on (investigate.impact.evidence: the policy's report-only results in the
    # window, who it would have blocked); None for other fixes. Shown with the plan, kept in its audit.
    evidence: dict[str, Any] | None = None

    @property
    def tenant_id(self) -> str:
        return self.request.tenant_id

    @property
    def ready(self) -> bool:
        return self.refusal is None and not self.unchanged

    def diff(self) -> str:
        """A unified diff of the target before and after, as pretty JSON."""
        before, after = _pretty(self.before), _pretty(self.after)
        # Split at JSON's own line breaks only: str.splitlines() also breaks at U+0085/U+2028, which a
        # tenant's name may hold, and would let it fake a diff line.
        lines = difflib.unified_diff(
            before.split("\n"), after.split("\n"), "before", "after", lineterm="", n=4
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fix": self.request.fix_id,
            "title": self.title,
            "summary": self.summary,
            "tenantId": self.tenant_id,
            "target": self.target.as_dict(),
            "request": self.request.as_dict(),
            "requests": [call.as_dict() for call in self.requests],
            "before": self.before,
            "after": self.after,
            "diff": self.diff(),
            "warnings": self.warnings,
            "notes": self.notes,
            "refusal": self.refusal,
            "unchanged": self.unchanged,
            "irreversible": self.irreversible,
            "rollbackOf": self.rollback_of,
            "plannedAt": _iso(self.planned_at),
            "evidence": self.evidence,
        }


Planner = Callable[[Any, FixRequest], Awaitable[Plan]]  # (FixContext, request) -> plan


@dataclass(frozen=True)
class FixSpec:
    """One fix of the catalogue and the inputs it takes (what a page must ask for)."""

    id: str
    title: str
    checks: tuple[str, ...]  # the posture checks it fixes
    planner: Planner
    # What differs from fix to fix; each spec states only where it is not the default.
    scope: Literal["msp", "client"] = "msp"
    target: Literal["policy", "namedLocation", "apiClient", ""] = ""  # what FixRequest.target_id names
    target_required: bool = False
    ranges: Literal["none", "required", "optional"] = "none"
    needs_egress_ip: bool = False
    risky: bool = False  # ask for a typed confirmation

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "checks": list(self.checks),
            "scope": self.scope,
            "target": self.target,
            "targetRequired": self.target_required,
            "ranges": self.ranges,
            "needsEgressIp": self.needs_egress_ip,
            "risky": self.risky,
        }


@dataclass(frozen=True)
class SentCall:
    """A request as it went out, with the answer (error messages and CIPP's results kept short)."""

    call: HttpCall
    status: int | None  # None: planned, never sent (a refusal)
    response: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.call.as_dict(), "status": self.status, "response": self.response}


@dataclass
class Outcome:
    """What :meth:`FixEngine.apply` / :meth:`FixEngine.rollback` did; ``audit_id`` is its record."""

    outcome: str
    message: str
    plan: Plan
    audit_id: int | None = None
    before: Any = None
    after: Any = None
    sent: list[SentCall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in (APPLIED, ROLLED_BACK, UNCHANGED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "ok": self.ok,
            "message": self.message,
            "auditId": self.audit_id,
            "fix": self.plan.request.fix_id,
            "tenantId": self.plan.tenant_id,
            "target": self.plan.target.as_dict(),
            "rollbackOf": self.plan.rollback_of,
            "requests": [s.as_dict() for s in self.sent],
            "before": self.before,
            "after": self.after,
        }


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"
