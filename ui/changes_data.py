"""Data of the Changes page (pages/changes.py) and of the posture page's "caused by" panel: the changes
seen in a time range (db.history.changes), one object's timeline and the diff between two of its versions,
the change a regressed finding names (its stored JSON's ``change`` key), cached briefly; and the rows and
words the pages show. Everything here is tenant text: pages show it through ui.output.table, st.text or
ui.chrome.plain, never as markup."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from db.history import ChangeRow, TransitionRow, changes, changes_by_id, object_timeline, version_diff
from db.posture_store import regression_versions_of_findings
from investigate.diff import DiffLine, label
from ui import data

CACHE_TTL_S = 30
DAY_CHOICES = (1, 7, 30, 90)
DEFAULT_DAYS = 7
# Changes listed at most (newest first; the page says when there are more): each is diffed on read, and
# 200 keep the list within its 200 ms (bench/queries.py, a month of 100 tenants).
LIMIT = 200
WORDS_WIDTH = 200  # a table cell's share of the diff words

# graph_objects.kind -> what the page calls it (db.history.VERSIONED_KINDS).
KIND_NAMES = {
    "conditionalAccessPolicies": "Conditional Access policy",
    "namedLocations": "named location",
    "securityDefaults": "security defaults",
    "cipp.apiClients": "CIPP API client",
    "cipp.azureConfiguration": "CIPP Azure configuration",
}


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def since(now: datetime, days: int) -> datetime:
    """The start of the last ``days`` days before ``now``."""
    return now - timedelta(days=days)


# --- cached reads ---


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def recent_changes(
    start: datetime, tenant_id: str | None = None, kind: str | None = None, who: str | None = None
) -> list[ChangeRow]:
    """Changes seen since ``start`` (newest first, at most LIMIT), each with the findings it moved."""
    with data.engine().connect() as conn:
        return changes(
            conn, start, tenant_id=tenant_id or None, kind=kind or None, who=who or None, limit=LIMIT
        )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def change(version_id: int) -> ChangeRow | None:
    """One change by its version id, with the findings it moved (a link may name one outside the range
    listed): the one-instant window of db.history.changes around its seen_at, so the same query answers."""
    with data.engine().connect() as conn:
        found = changes_by_id(conn, [version_id]).get(version_id)
        if found is None:
            return None
        same_instant = changes(
            conn,
            found.seen_at,
            found.seen_at + timedelta(microseconds=1),
            tenant_id=found.tenant_id,
            kind=found.kind,
            limit=LIMIT,
        )
    # A tenant's baseline version is not a change (db.history.changes leaves it out): shown without moves.
    return next((c for c in same_instant if c.version_id == version_id), found)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def timeline(tenant_id: str, kind: str, object_id: str) -> list[ChangeRow]:
    """Every kept version of one object, oldest first (db.history.object_timeline)."""
    with data.engine().connect() as conn:
        return object_timeline(conn, tenant_id, kind, object_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def diff_between(version_id_a: int, version_id_b: int) -> list[DiffLine]:
    with data.engine().connect() as conn:
        return version_diff(conn, version_id_a, version_id_b)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def regression_versions() -> dict[tuple[str, str, str, str], int]:
    """(tenant, check, subject type, subject id) -> the version id each currently regressed finding's JSON
    names as its cause (db.posture_store.record_transitions writes the ``change`` key). Only fail and warn
    findings can carry one."""
    with data.engine().connect() as conn:
        return regression_versions_of_findings(conn)


def regression_change(tenant_id: str, check: str, subject_type: str, subject_id: str) -> ChangeRow | None:
    """The change the latest evaluation names as the cause of this finding's regression, or None."""
    version_id = regression_versions().get((tenant_id, check, subject_type, subject_id))
    return None if version_id is None else change(version_id)


# --- words and rows ---


def when_text(c: ChangeRow) -> str:
    """When it was made (the audit entry's or fix's time), else when a collection first saw it."""
    if c.changed_at is not None:
        return f"{c.changed_at:%Y-%m-%d %H:%M:%S} UTC"
    return f"first seen at {c.seen_at:%Y-%m-%d %H:%M:%S} UTC"


def who_text(c: ChangeRow) -> str:
    """Who made it: a user's UPN, an app ('(app)'), Perimeter's own fix (its operator), or not known yet."""
    if not c.who:
        return "not known (no directory audit entry names it)"
    return f"{c.who} (app)" if c.who_type == "app" else c.who


def words_text(c: ChangeRow, width: int | None = None) -> str:
    """The diff in words, one line each ('(no difference)' for a version without one)."""
    text = "; ".join(line.words for line in c.diff) or ("deleted" if c.deleted else "(no difference)")
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text


def change_rows(found: list[ChangeRow], names: dict[str, str]) -> list[dict[str, Any]]:
    """One table row per change (every cell tenant text: ui.output.table shows it as text)."""
    return [
        {
            "When (UTC)": (c.changed_at or c.seen_at).strftime("%Y-%m-%d %H:%M"),
            "Seen": "made" if c.changed_at is not None else "first seen",
            "Tenant": names.get(c.tenant_id, c.tenant_id),
            "Kind": kind_name(c.kind),
            "Object": c.name,
            "Who": who_text(c),
            "From IP": c.from_ip,
            "What changed": words_text(c, WORDS_WIDTH),
            "Findings moved": len(c.moved),
        }
        for c in found
    ]


def shown_json(value: Any) -> str:
    """A JSON value as one line of text ('(none)' when absent)."""
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def diff_rows(lines: list[DiffLine]) -> list[dict[str, Any]]:
    """The JSON path, its name in the posture page's words, and the values before → after."""
    return [
        {
            "Path": line.path or "(whole object)",
            "Field": label(line.path) if line.path else "",
            "Before": shown_json(line.before),
            "After": shown_json(line.after),
        }
        for line in lines
    ]


def moved_rows(moved: list[TransitionRow]) -> list[dict[str, Any]]:
    return [
        {
            "Check": t.check_id,
            "Severity": t.severity,
            "Subject": t.subject_name or t.subject_id,
            "From": t.from_status,
            "To": t.to_status,
            "At (UTC)": t.at.strftime("%Y-%m-%d %H:%M"),
        }
        for t in moved
    ]


def timeline_rows(versions: list[ChangeRow]) -> list[dict[str, Any]]:
    return [
        {
            "Version": v.version,
            "Seen at (UTC)": v.seen_at.strftime("%Y-%m-%d %H:%M"),
            "Made at (UTC)": v.changed_at.strftime("%Y-%m-%d %H:%M") if v.changed_at else "",
            "Who": who_text(v) if v.who or v.diff else "",
            "What changed": words_text(v, WORDS_WIDTH) if v.diff or v.deleted else "(first version kept)",
        }
        for v in versions
    ]
