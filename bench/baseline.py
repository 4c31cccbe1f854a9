"""The naive baseline of bench/queries.py: the pages' answers (blocked sign-ins, as they count) by plain
scans of `signins` (through its original tenant/time index, JSON read with SQLite's json functions) and
by parsing every stored MFA registration, timed on the 24-hour case and checked to give the same answer
as ours."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bench.scenarios import Runs, timed
from db.signin_raw import raw_json
from investigate.codes import BLOCKED_CODES

DIMENSIONS = ("code", "policy", "app", "country", "ip", "user")


def _tenant_sql(tenants: list[str]) -> str:
    return ",".join(f"'{t}'" for t in tenants)  # tenant ids come from our own table


# The pages count blocked sign-ins by default (investigate.codes): the scans take the same codes.
_BLOCKED_SQL = ",".join(str(code) for code in sorted(BLOCKED_CODES))


def _failed_sql(tenants: list[str], start: datetime, end: datetime, extra: str, columns: str) -> str:
    return (
        f"SELECT {columns} FROM signins INDEXED BY ix_signins_tenant_created WHERE tenant_id IN "
        f"({_tenant_sql(tenants)}) AND created_at >= '{start.isoformat(' ')}' AND created_at < "
        f"'{end.isoformat(' ')}' AND error_code IN ({_BLOCKED_SQL}) {extra}"
    )


def naive_rows(
    conn: Connection,
    tenants: list[str],
    start: datetime,
    end: datetime,
    extra: str = "",
    columns: str = "*",
) -> list:
    return conn.exec_driver_sql(_failed_sql(tenants, start, end, extra, columns)).all()


def naive(conn: Connection, kind: str, tenants: list[str], start: datetime, end: datetime) -> Any:
    """Plain scans of the sign-ins table (SQLite; JSON through json_extract)."""
    if kind == "count":
        return naive_rows(conn, tenants, start, end, columns="count(*)")[0][0]
    if kind in ("ip", "user", "app", "country", "code"):
        column = {
            "ip": "ip_address",
            "user": "user_principal_name",
            "app": "app_display_name",
            "country": "country",
            "code": "error_code",
        }[kind]
        rows = naive_rows(
            conn,
            tenants,
            start,
            end,
            f"AND {column} != '' GROUP BY {column} ORDER BY count(*) DESC, 1 LIMIT 10",
            f"{column}, count(*)",
        )
        return [(str(v), n) for v, n in rows]
    if kind == "policy":  # the policy that blocked, read from each sign-in's JSON (streamed)
        from investigate.explain import primary_blocking_policy

        counts: dict[str, int] = {}
        for (raw,) in conn.exec_driver_sql(_failed_sql(tenants, start, end, "", "raw")):
            pid, _name = primary_blocking_policy(json.loads(raw_json(conn, raw)))
            if pid:
                counts[pid] = counts.get(pid, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])[:10]
    if kind == "timeline":
        rows = naive_rows(
            conn,
            tenants,
            start,
            end,
            "GROUP BY substr(created_at, 1, 13), error_code",
            "substr(created_at, 1, 13), error_code, count(*)",
        )
        return sum(n for _h, _c, n in rows)
    if kind == "places":  # each sign-in's coordinates read from its JSON (streamed)
        places: dict[tuple[str, str], list[float]] = {}
        for country, city, raw in conn.exec_driver_sql(
            _failed_sql(tenants, start, end, "", "country, city, raw")
        ):
            where = json.loads(raw_json(conn, raw)).get("location") or {}
            places.setdefault((country, city), []).append(
                (where.get("geoCoordinates") or {}).get("latitude") or 0
            )
        return len(sorted(places.items(), key=lambda kv: -len(kv[1]))[:300])
    if kind == "rows":
        return [
            (r[0], r[1][:19])
            for r in naive_rows(
                conn, tenants, start, end, "ORDER BY created_at DESC LIMIT 200", "id, created_at"
            )
        ]
    raise ValueError(kind)


def naive_mfa(conn: Connection) -> tuple[int, int]:
    """Coverage by reading every stored registration detail and user (what the MFA page would parse)."""
    members = capable = 0
    enabled: dict[str, set[str]] = {}
    for tenant_id, body in conn.exec_driver_sql(
        "SELECT tenant_id, body FROM graph_objects WHERE kind = 'users'"
    ):
        user = json.loads(body)
        if user.get("accountEnabled") is not False:
            enabled.setdefault(tenant_id, set()).add(str(user.get("id")).lower())
    for tenant_id, body in conn.exec_driver_sql(
        "SELECT tenant_id, body FROM graph_objects WHERE kind = 'userRegistrationDetails'"
    ):
        reg = json.loads(body)
        if (
            str(reg.get("id")).lower() in enabled.get(tenant_id, set())
            and str(reg.get("userType")).lower() == "member"
        ):
            members += 1
            capable += reg.get("isMfaCapable") is True
    return members, capable


def same_answer(mine: Any, other: Any) -> bool:
    """Equal answers; in rankings and newest-first lists, ties at the cut-off may fall either way."""
    if isinstance(mine, list) and mine and isinstance(mine[0], tuple) and isinstance(other, list):
        if len(mine) != len(other):
            return False
        keys = [k for _v, k in mine]
        if keys != [k for _v, k in other]:
            return False
        cut = keys[-1]
        return {v for v, k in mine if k != cut} == {v for v, k in other if k != cut}
    return mine == other


# Each function of the 24-hour case with a baseline: the plain scan's kind, and our answer in its shape.
CHECKS: dict[str, tuple[str, Any]] = {
    "count_failed": ("count", lambda r: r),
    "timeline": ("timeline", lambda r: sum(n for _b, _c, n in r[1])),
    **{f"top_values[{d}]": (d, lambda r: [(t.value, t.count) for t in r]) for d in DIMENSIONS},
    "places (map)": ("places", lambda r: len(r)),
    "failed_signins (table)": ("rows", lambda r: [(x.id, x.created_at.isoformat(" ")[:19]) for x in r]),
}
# A month of plain scans, once each, for scale: (our function, the scan's kind).
MONTH = (("count_failed", "count"), ("top_values[ip]", "ip"), ("top_values[policy]", "policy"))


@dataclass
class Baseline:
    runs: dict[str, tuple[Runs, str]] = field(default_factory=dict)  # function → (times, note)
    mismatches: list[str] = field(default_factory=list)
    month: list[tuple[str, float]] = field(default_factory=list)  # function → one plain scan, ms


def measure(
    conn: Connection, tenants: list[str], now: datetime, ours: dict[str, Any], repeat: int, month: bool
) -> Baseline:
    """The baseline beside ``ours`` (the 24-hour case's answers); a month of scans unless ``month`` is off."""
    out = Baseline()
    start, end = now - timedelta(hours=24), now
    for name, (kind, shape) in CHECKS.items():
        times, answer = timed(lambda k=kind: naive(conn, k, tenants, start, end), max(1, min(3, repeat)))
        same = same_answer(shape(ours[name]), answer)
        if not same:
            out.mismatches.append(name)
        out.runs[name] = (times, "same answer" if same else "DIFFERENT answer")
    out.runs["blocked_counts (1 h, 24 h, change)"] = (
        timed(
            lambda: [
                naive(conn, "count", tenants, a, b)
                for a, b in (
                    (now - timedelta(hours=1), now),
                    (now - timedelta(hours=2), now - timedelta(hours=1)),
                    (now - timedelta(hours=24), now),
                    (now - timedelta(hours=48), now - timedelta(hours=24)),
                )
            ],
            1,
        )[0],
        "",
    )
    out.runs["mfa_coverage_latest"] = (timed(lambda: naive_mfa(conn), 1)[0], "parse every registration")
    if month:
        for name, kind in MONTH:
            times, _answer = timed(lambda k=kind: naive(conn, k, tenants, now - timedelta(days=30), now), 0)
            out.month.append((name, times.first))
    return out
