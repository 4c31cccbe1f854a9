"""What changed between two versions of a configuration object (a CA policy, a named location,
security defaults, a CIPP API client or CIPP's Azure configuration), in the posture page's words.

Pure: JSON in, :class:`DiffLine` out. The same reading decides whether a re-collection is a new
version at all (:func:`content_hash`): volatile fields (``modifiedDateTime``, ``@odata.*``) are left
out, lists of ids are sets (Graph does not keep their order), and ``guestOrExternalUserTypes`` is one
comma-separated string of flags compared as a set. Every value in the words is tenant text: callers
show it as plain text (st.text, safetext), never as markup.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from graphjson.values import lower
from posture.graph import state_words

VOLATILE_KEYS = frozenset({"modifiedDateTime"})
GUEST_TYPES_KEY = "guestOrExternalUserTypes"
ABSENT = "(none)"

# JSON path -> the words the posture page uses for it; anything else is named by its path.
LABELS: dict[str, str] = {
    "displayName": "name",
    "state": "state",
    "conditions.users.includeUsers": "included users",
    "conditions.users.excludeUsers": "excluded users",
    "conditions.users.includeGroups": "included groups",
    "conditions.users.excludeGroups": "excluded groups",
    "conditions.users.includeRoles": "included roles",
    "conditions.users.excludeRoles": "excluded roles",
    "conditions.users.includeGuestsOrExternalUsers.guestOrExternalUserTypes": "included guest/external types",
    "conditions.users.excludeGuestsOrExternalUsers.guestOrExternalUserTypes": "excluded guest/external types",
    "conditions.users.includeGuestsOrExternalUsers.externalTenants.members": "included external tenants",
    "conditions.users.excludeGuestsOrExternalUsers.externalTenants.members": "excluded external tenants",
    "conditions.applications.includeApplications": "included apps",
    "conditions.applications.excludeApplications": "excluded apps",
    "conditions.applications.includeUserActions": "included user actions",
    "conditions.locations.includeLocations": "included locations",
    "conditions.locations.excludeLocations": "excluded locations",
    "conditions.platforms.includePlatforms": "included platforms",
    "conditions.platforms.excludePlatforms": "excluded platforms",
    "conditions.clientAppTypes": "client app types",
    "conditions.signInRiskLevels": "sign-in risk levels",
    "conditions.userRiskLevels": "user risk levels",
    "grantControls.builtInControls": "grant controls",
    "grantControls.operator": "grant operator",
    "grantControls.authenticationStrength.displayName": "authentication strength",
    "ipRanges": "ranges",
    "isTrusted": "trusted",
    "countriesAndRegions": "countries",
    "includeUnknownCountriesAndRegions": "unknown countries included",
    "isEnabled": "enabled",
}
for _side in ("include", "exclude"):
    LABELS[f"conditions.users.{_side}GuestsOrExternalUsers.externalTenants.membershipKind"] = (
        f"{_side}d external tenants"
    )


@dataclass(frozen=True)
class DiffLine:
    """One difference: where (a dotted JSON path), the values before and after as JSON (None when
    absent), and one line of words such as ``state: report-only → on``."""

    path: str
    before: Any
    after: Any
    words: str


def is_volatile(key: str) -> bool:
    """A field that changes without the configuration changing (re-reads, paging, metadata)."""
    return key in VOLATILE_KEYS or "@odata." in key or key.startswith("@odata")


def canonical(value: Any, key: str = "") -> Any:
    """``value`` without volatile fields, lists of plain values sorted and the guest/external types
    flags sorted: two reads of the same configuration give the same canonical JSON."""
    if isinstance(value, dict):
        return {k: canonical(v, k) for k, v in value.items() if not is_volatile(k)}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        if all(_is_plain(v) for v in items):
            return sorted(items, key=_sort_key)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if key == GUEST_TYPES_KEY and isinstance(value, str):
        return ",".join(sorted(_flags(value), key=str.lower))
    return value


def content_hash(value: Any) -> str:
    """SHA-256 (hex) of the canonical content: equal exactly when nothing but volatile fields or order
    differs."""
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def diff(before: Any, after: Any) -> list[DiffLine]:
    """The differences from ``before`` to ``after`` (either None: the object did not exist), in path
    order. A created or deleted object is one line."""
    if before is None and after is None:
        return []
    if before is None:
        return [DiffLine("", None, after, f"created: {_object_words(after)}")]
    if after is None:
        return [DiffLine("", before, None, f"deleted: {_object_words(before)}")]
    lines: list[DiffLine] = []
    _walk(before, after, "", lines)
    return lines


def diff_words(lines: list[DiffLine]) -> list[str]:
    return [line.words for line in lines]


def label(path: str) -> str:
    return LABELS.get(path, path)


def _walk(before: Any, after: Any, path: str, out: list[DiffLine]) -> None:
    # Equal subtrees are skipped at once (the Changes page diffs every change it lists, and a change
    # touches one or two fields of an object); lists and flags are compared as sets below.
    if before == after:
        return
    if isinstance(before, dict) or isinstance(after, dict):
        if (before is None or isinstance(before, dict)) and (after is None or isinstance(after, dict)):
            old, new = before or {}, after or {}
            for key in sorted(set(old) | set(new)):
                if not is_volatile(key):
                    _walk(old.get(key), new.get(key), f"{path}.{key}" if path else key, out)
            return
    if isinstance(before, list) or isinstance(after, list):
        if (before is None or isinstance(before, list)) and (after is None or isinstance(after, list)):
            _compare_sets(before or [], after or [], path, out)
            return
    if path.rsplit(".", 1)[-1] == GUEST_TYPES_KEY and _is_text_or_none(before) and _is_text_or_none(after):
        _compare_flags(before or "", after or "", path, out)
        return
    if before != after:
        out.append(
            DiffLine(path, before, after, f"{label(path)}: {_value(path, before)} → {_value(path, after)}")
        )


def _compare_sets(before: list[Any], after: list[Any], path: str, out: list[DiffLine]) -> None:
    old = {_item_key(v): v for v in before}
    new = {_item_key(v): v for v in after}
    added = [_item_words(new[k]) for k in new if k not in old]
    removed = [_item_words(old[k]) for k in old if k not in new]
    if added or removed:
        out.append(DiffLine(path, before, after, _set_words(label(path), added, removed)))


def _compare_flags(before: str, after: str, path: str, out: list[DiffLine]) -> None:
    old = {f.lower(): f for f in _flags(before)}
    new = {f.lower(): f for f in _flags(after)}
    added = [new[k] for k in sorted(new) if k not in old]
    removed = [old[k] for k in sorted(old) if k not in new]
    if added or removed:
        out.append(DiffLine(path, before or None, after or None, _set_words(label(path), added, removed)))


def _set_words(name: str, added: list[str], removed: list[str]) -> str:
    parts = []
    if added:
        parts.append(f"{', '.join(added)} added")
    if removed:
        parts.append(f"{', '.join(removed)} removed")
    return f"{name}: {'; '.join(parts)}"


def _value(path: str, value: Any) -> str:
    if value is None:
        return ABSENT
    if path == "state" and isinstance(value, str):
        return state_words(lower(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _object_words(obj: Any) -> str:
    if isinstance(obj, dict):
        for key in ("displayName", "AppName", "ClientId", "id"):
            if isinstance(obj.get(key), str) and obj[key]:
                return str(obj[key])
    return "(unnamed)"


def _item_key(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()  # ids and enum values: Graph's casing varies
    return json.dumps(canonical(value), sort_keys=True)


def _item_words(value: Any) -> str:
    """A list item in words: a range by its CIDR, an object by its name or id, else its JSON."""
    if isinstance(value, dict):
        for key in ("cidrAddress", "displayName", "id"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _flags(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value).lower() if isinstance(value, str) else str(value))
