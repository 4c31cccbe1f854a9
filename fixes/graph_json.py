"""Minimal raw-JSON writes to Graph objects, and the comparisons the engine verifies them with.

A change is a set of *paths* (``("conditions", "users")``) with their complete new value. The PATCH
body nests exactly those paths, so only changed properties travel, and each changed sub-object is
sent whole (built from the freshly read object, so nothing in it is lost). Graph merges objects it
receives into the stored ones and replaces everything else (lists, strings, null); ``merge_patch``
mirrors that for the diff, ``restore_body`` builds the rollback body from the same paths.
"""

from __future__ import annotations

import copy
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
            for inner in reversed(path[depth + 1:]):
                wrapped = {inner: wrapped}
            return path[:depth + 1], wrapped
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
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            matches(a, e) for a, e in zip(actual, expected, strict=True))
    return actual == expected


def same(first: Any, second: Any) -> bool:
    """Whether two reads of an object hold the same content (the staleness test). Key order and
    `modifiedDateTime` are ignored: every write moves the timestamp, a rollback's too."""
    return _canonical(first) == _canonical(second)


def _canonical(value: Any) -> bytes:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "modifiedDateTime"}
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
