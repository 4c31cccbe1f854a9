"""One confirmation rule for every write, forward fix or rollback: does it open access, and which
finding does it bring back?

A write *opens access* when, after it, someone or something can get in where it could not before,
judged on the plan's ``before`` and ``after`` (the same two states the guards judge):

- a named IP location covers an address it did not, or becomes trusted (a block policy exempts it);
- an API client accepts calls from an address it did not (``Any``, or wider ranges), or is enabled;
- Azure accepts an API client id it did not (SaveToAzure);
- an enforced Conditional Access policy is deleted or switched off, or, while it is on, excludes more
  (users, groups, roles, guests or external users, apps, locations), includes less, drops ``block``,
  stops requiring MFA, or stops asking for a sign-in every time.

A rollback of a fix *re-creates* the finding that fix was for (check id, title and severity from the
posture catalogue): undoing api-client.set-ranges of a client that had ``Any`` brings C-1 back (C-2 for
one that had ranges). Undoing a rollback re-applies the fix, which re-creates nothing.

:func:`confirmation` puts both together with the catalogue's ``risky`` flag (a fix that can lock people
out, e.g. switching the block policy on): one :class:`Confirmation` the dashboard asks for with the same
typed word, whether the write is a fix or a rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fixes.catalogue import FIXES
from fixes.client_policy import EVERY_TENANT, excluded_pairs
from fixes.model import Plan
from graphjson.values import as_dict, lower, lower_set, text
from posture.catalogue import CHECKS_BY_ID
from posture.checks.cipp import azure_client_ids, client_name, client_ranges, is_any
from posture.graph import (
    ALL,
    excluded_applications,
    grant_controls,
    included_applications,
    is_enabled,
    location_lists,
    policy_name,
    requires_mfa,
    users_condition,
)
from posture.ranges import covered_by, parse_network
from posture.view import is_ip_location, location_ranges

SET_RANGES = "api-client.set-ranges"


@dataclass(frozen=True)
class FindingRef:
    """A posture finding a write brings back, as a person reads it."""

    check: str
    title: str
    severity: str

    def __str__(self) -> str:
        return f"{self.check} “{self.title}” ({self.severity})"


@dataclass(frozen=True)
class Confirmation:
    """What a write does that needs a typed confirmation (nothing: a click is enough)."""

    opens: tuple[str, ...] = ()  # how it opens access, one phrase each
    recreates: tuple[FindingRef, ...] = ()  # the findings it brings back
    lockout: str = ""  # why it can lock people out (the catalogue's risky fixes)

    @property
    def required(self) -> bool:
        return bool(self.opens or self.recreates or self.lockout)

    def reasons(self) -> list[str]:
        """One sentence per reason, for the page to show above the typed confirmation."""
        out = [f"This opens access: {'; '.join(self.opens)}."] if self.opens else []
        out += [f"This re-creates the finding {f}." for f in self.recreates]
        if self.lockout:
            out.append(f"{self.lockout}.")
        return out


def confirmation(plan: Plan, undoes_a_rollback: bool = False) -> Confirmation:
    """The confirmation ``plan`` needs. ``undoes_a_rollback``: the plan rolls back a record that was
    itself a rollback (so it re-applies the fix: a forward write)."""
    forward = plan.rollback_of is None or undoes_a_rollback
    spec = FIXES.get(plan.request.fix_id)
    lockout = (
        "This change can lock people out: check the plan's warnings and your egress IP"
        if forward and spec is not None and spec.risky
        else ""
    )
    recreates = () if forward else recreated_findings(plan.request.fix_id, plan.after)
    return Confirmation(tuple(opened_access(plan.target.type, plan.before, plan.after)), recreates, lockout)


def recreated_findings(fix_id: str, restored: Any) -> tuple[FindingRef, ...]:
    """The findings undoing fix ``fix_id`` brings back, given the state the rollback restores."""
    spec = FIXES.get(fix_id)
    if spec is None:
        return ()
    checks = spec.checks
    if fix_id == SET_RANGES and isinstance(restored, dict):
        # C-1 judges a client without ranges ("Any", or none), C-2 the ranges a client has.
        ranges = client_ranges(restored)
        checks = ("C-1",) if ranges is not None and (not ranges or is_any(ranges)) else ("C-2",)
    return tuple(
        FindingRef(check.id, check.title, check.severity)
        for check in (CHECKS_BY_ID.get(c) for c in checks)
        if check is not None
    )


def opened_access(target_type: str, before: Any, after: Any) -> list[str]:
    """How writing ``after`` over ``before`` opens access (empty: it does not)."""
    judge = _JUDGES.get(target_type)
    return judge(before, after) if judge is not None else []


# --- named locations -------------------------------------------------------------------------------


def _networks(ranges: Iterable[str]) -> list[Any]:
    return [n for n in (parse_network(r) for r in ranges) if n is not None]


def _widened(before: list[str], after: list[str]) -> list[str]:
    """The ranges of ``after`` with an address no range of ``before`` holds."""
    held = _networks(before)
    return [r for r in after if (n := parse_network(r)) is not None and not covered_by(n, held)]


def _location(before: Any, after: Any) -> list[str]:
    if not isinstance(after, dict) or not is_ip_location(after):
        return []
    was = before if isinstance(before, dict) else {}
    name = text(after.get("displayName"), text(was.get("displayName"), "(unnamed location)"))
    out = []
    added = _widened(location_ranges(was), location_ranges(after))
    if added:
        out.append(f"'{name}' covers {', '.join(added)} too")
    if after.get("isTrusted") is True and was.get("isTrusted") is not True:
        out.append(f"'{name}' becomes trusted")
    return out


# --- API clients and Azure -------------------------------------------------------------------------


def _client(before: Any, after: Any) -> list[str]:
    if not isinstance(after, dict):
        return []
    was = before if isinstance(before, dict) else {}
    name = client_name(after)
    old, new = client_ranges(was) or [], client_ranges(after) or []
    out = []
    if not is_any(old):
        if is_any(new):
            out.append(f"the API client '{name}' accepts calls from any IP")
        elif added := _widened(old, new):
            out.append(f"the API client '{name}' accepts calls from {', '.join(added)} too")
    if after.get("Enabled") is True and was.get("Enabled") is not True:
        out.append(f"the API client '{name}' is enabled")
    return out


def _azure(before: Any, after: Any) -> list[str]:
    def ids(state: Any) -> set[str]:
        configuration = as_dict(as_dict(state).get("azureConfiguration"))
        return {lower(i) for i in azure_client_ids(configuration)}

    added = ids(after) - ids(before)
    return [f"Azure accepts {len(added)} more API client id(s)"] if added else []


# --- Conditional Access policies -------------------------------------------------------------------

_EXCLUDES = ("excludeUsers", "excludeGroups", "excludeRoles")
_INCLUDES = ("includeUsers", "includeGroups", "includeRoles")


def _ids(policy: dict[str, Any], key: str) -> set[str]:
    return lower_set(users_condition(policy).get(key))


def _guests_widened(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the guests-or-external-users exclusion holds a (type, tenant) pair it did not."""
    key = "excludeGuestsOrExternalUsers"
    had = {(lower(t), tenant) for t, tenant in excluded_pairs(users_condition(before).get(key))}
    for kind, tenant in excluded_pairs(users_condition(after).get(key)):
        if (lower(kind), tenant) not in had and (lower(kind), EVERY_TENANT) not in had:
            return True
    return False


def _applies_everywhere(policy: dict[str, Any]) -> bool:
    include, exclude = location_lists(policy)
    return {lower(v) for v in include} <= {ALL} and not exclude


def _every_time(policy: dict[str, Any]) -> bool:
    frequency = as_dict(as_dict(policy.get("sessionControls")).get("signInFrequency"))
    every_time = lower(frequency.get("frequencyInterval")) == "everytime"
    return every_time and frequency.get("isEnabled") is not False


def _policy(before: Any, after: Any) -> list[str]:
    if not isinstance(before, dict):
        return []  # a new policy only adds requirements
    name = policy_name(before)
    if not isinstance(after, dict):
        return [f"'{name}' is deleted"] if is_enabled(before) else []
    if is_enabled(before) and not is_enabled(after):
        return [f"'{name}' is switched off"]
    if not is_enabled(after):
        return []  # a policy that is not on enforces nothing, before or after
    out = []
    excluded = [k for k in _EXCLUDES if _ids(after, k) - _ids(before, k)]
    if _guests_widened(before, after):
        excluded.append("excludeGuestsOrExternalUsers")
    if excluded_applications(after) - excluded_applications(before):
        excluded.append("excludeApplications")
    if excluded:
        out.append(f"'{name}' excludes more ({', '.join(excluded)})")
    included = [k for k in _INCLUDES if _ids(before, k) - _ids(after, k)]
    if included_applications(before) - included_applications(after):
        included.append("includeApplications")
    if included:
        out.append(f"'{name}' includes less ({', '.join(included)})")
    if _applies_everywhere(before) and not _applies_everywhere(after):
        out.append(f"'{name}' no longer applies at every location")
    elif set(location_lists(after)[1]) - set(location_lists(before)[1]):
        out.append(f"'{name}' exempts more locations")
    if "block" in grant_controls(before) and "block" not in grant_controls(after):
        out.append(f"'{name}' no longer blocks")
    if requires_mfa(before) and not requires_mfa(after):
        out.append(f"'{name}' no longer requires MFA")
    if _every_time(before) and not _every_time(after):
        out.append(f"'{name}' no longer asks for a sign-in every time")
    return out


_JUDGES: dict[str, Callable[[Any, Any], list[str]]] = {
    "namedLocation": _location,
    "apiClient": _client,
    "azureConfiguration": _azure,
    "policy": _policy,
}
