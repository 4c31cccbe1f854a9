"""Minimal raw-JSON writes to Graph objects, and the comparisons the engine verifies them with.

A change is a set of *paths* (``("conditions", "users")``) with their complete new value. The PATCH
body nests exactly those paths, so only changed properties travel, and each changed sub-object is
sent whole (built from the freshly read object, so nothing in it is lost). Graph merges objects it
receives into the stored ones and replaces everything else (lists, strings, null); ``merge_patch``
mirrors that for the diff, ``restore_body`` builds the rollback body from the same paths.

Concurrent edits (Graph's policy and named-location PATCH and CIPP's AddUpdate take no If-Match
precondition): ``rebase`` carries what a plan changes between its ``before`` and ``after`` onto the state
read just before the write — lists element by element, objects key by key, a scalar the plan changes
takes the plan's value, everything else keeps the fresh value — and names the fields where the fresh
state changed what the plan changes in another way (stale). ``delta_took`` and ``differences`` judge the
state read back after the write against that expectation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

Path = tuple[str, ...]
GUEST_TYPES = "guestOrExternalUserTypes"


def write_path(before: dict[str, Any], path: Path, value: Any) -> tuple[Path, Any]:
    """Where to write ``value`` for ``path``: if a parent on the way is null or missing in
    ``before``, the write moves up to that parent (Graph cannot merge into null)."""
    node: Any = before
    for depth, key in enumerate(path[:-1]):
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            wrapped: Any = value
            for inner in reversed(path[depth + 1 :]):
                wrapped = {inner: wrapped}
            return path[: depth + 1], wrapped
        node = child
    return path, value


def patch_body(before: dict[str, Any], changes: dict[Path, Any]) -> dict[str, Any]:
    """The PATCH body for ``changes`` (path -> complete new value)."""
    body: dict[str, Any] = {}
    for wanted, value in changes.items():
        path, value = write_path(before, wanted, value)
        node = body
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = copy.deepcopy(value)
    return body


def merge_patch(before: Any, body: dict[str, Any]) -> Any:
    """The object after Graph applied ``body``: objects merge, anything else replaces."""
    result = copy.deepcopy(before) if isinstance(before, dict) else {}
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def restore_body(body: dict[str, Any], before: Any) -> dict[str, Any]:
    """The PATCH that puts back, at the same paths as ``body``, what ``before`` held there."""
    restored: dict[str, Any] = {}
    for key, value in body.items():
        old = before.get(key) if isinstance(before, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            restored[key] = restore_body(value, old)
        else:
            restored[key] = copy.deepcopy(old)
    return restored


def guest_flags(value: Any) -> set[str]:
    """`guestOrExternalUserTypes` is ONE comma-separated string of flags; order and case vary."""
    parts = value.split(",") if isinstance(value, str) else []
    return {p.strip().lower() for p in parts if p.strip()}


def matches(actual: Any, expected: Any, key: str = "") -> bool:
    """Whether ``actual`` holds everything ``expected`` says (extra properties in objects allowed)."""
    if key == GUEST_TYPES:
        return guest_flags(actual) == guest_flags(expected)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(matches(actual.get(k), v, k) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


def same(first: Any, second: Any) -> bool:
    """Whether two reads of an object hold the same content (the staleness test). Key order and
    `modifiedDateTime` are ignored: every write moves the timestamp, a rollback's too."""
    return _canonical(first) == _canonical(second)


def _canonical(value: Any) -> bytes:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "modifiedDateTime"}
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# --- rebasing a plan's delta onto a fresh read ------------------------------------------------------------

_MISSING: Any = object()
VOLATILE = frozenset({"modifiedDateTime", "@odata.context"})  # every write moves these


@dataclass
class Rebased:
    """The plan's change carried onto a fresh state: ``value`` as the target should read after the write,
    ``merged`` the fields where a change made meanwhile was kept, ``clashes`` the fields the plan changes
    that were changed meanwhile to something else (the plan is stale there)."""

    value: Any
    merged: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)


def _equal(first: Any, second: Any, key: str = "") -> bool:
    if first is _MISSING or second is _MISSING:
        return first is second
    if key == GUEST_TYPES and isinstance(first, str) and isinstance(second, str):
        return guest_flags(first) == guest_flags(second)
    return _sorted_json(first) == _sorted_json(second)


def _sorted_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _name(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(the whole object)"


def _keys(*objects: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for obj in objects:
        seen.update(dict.fromkeys(obj))
    return list(seen)


def _rebase(before: Any, after: Any, current: Any, path: tuple[str, ...], out: Rebased) -> Any:
    key = path[-1] if path else ""
    if _equal(before, after, key):  # the plan does not change this: the fresh value stands
        if not _equal(before, current, key) and key not in VOLATILE:
            out.merged.append(_name(path))
        return current
    if _equal(current, before, key) or _equal(current, after, key):  # untouched meanwhile, or the same change
        return after
    if all(isinstance(v, dict) for v in (before, after, current)):
        merged = {}
        for k in _keys(current, after, before):
            value = _rebase(
                before.get(k, _MISSING), after.get(k, _MISSING), current.get(k, _MISSING), (*path, k), out
            )
            if value is not _MISSING:
                merged[k] = value
        return merged
    if all(isinstance(v, list) for v in (before, after, current)):
        removed = [x for x in before if not any(_equal(x, y) for y in after)]
        added = [x for x in after if not any(_equal(x, y) for y in before)]
        merged_list = [x for x in current if not any(_equal(x, r) for r in removed)]
        merged_list += [x for x in added if not any(_equal(x, y) for y in merged_list)]
        out.merged.append(_name(path))
        return merged_list
    out.clashes.append(_name(path))
    return current


def rebase(before: Any, after: Any, current: Any) -> Rebased:
    """What the plan changes from ``before`` to ``after``, carried onto ``current`` (see the module)."""
    out = Rebased(None)
    out.value = _rebase(before, after, current, (), out)
    return out


def delta_took(before: Any, expected: Any, actual: Any) -> bool:
    """Whether ``actual`` (read back after the write) holds the change from ``before`` (the state just
    before the write) to ``expected``: carrying that change onto it again would change nothing."""
    again = rebase(before, expected, actual)
    return not again.clashes and not differences(again.value, actual)


def _short(value: Any, limit: int = 80) -> str:
    shown = orjson.dumps(value).decode() if value is not _MISSING else "(absent)"
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def differences(expected: Any, actual: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Where ``actual`` reads differently from ``expected`` ("field: ..." each; volatile fields ignored)."""
    key = path[-1] if path else ""
    if key in VOLATILE or _equal(expected, actual, key):
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [
            line
            for k in _keys(expected, actual)
            for line in differences(expected.get(k, _MISSING), actual.get(k, _MISSING), (*path, k))
        ]
    if isinstance(expected, list) and isinstance(actual, list):
        extra = [x for x in actual if not any(_equal(x, y) for y in expected)]
        lacking = [x for x in expected if not any(_equal(x, y) for y in actual)]
        parts = [f"also holds {_short(extra)}"] if extra else []
        parts += [f"lacks {_short(lacking)}"] if lacking else []
        return [f"{_name(path)} {' and '.join(parts)}"] if parts else []  # another order is the same list
    return [f"{_name(path)} reads {_short(actual)} instead of {_short(expected)}"]
