"""The wall display's arithmetic: refresh and rotation bounds, freshness levels, change in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from posture.checks.cipp import client_id, client_name, client_ranges, open_to_any_ip
from posture.findings import ACCEPTED, Finding

MIN_REFRESH_S, MAX_REFRESH_S = 5, 3600
MIN_ROTATE_S, MAX_ROTATE_S = 10, 3600

OK, AMBER, RED = "ok", "amber", "red"
# A source is fresh while younger than 3 of its intervals (collectors.status); the wall turns amber then,
# and red at 10 intervals or when the latest attempt failed.
AMBER_INTERVALS, RED_INTERVALS = 3, 10


def bounded(value: str | int | None, default: int, low: int, high: int) -> int:
    """A number of seconds from a URL or setting, clamped to [low, high]; garbage gives the default."""
    try:
        number = int(str(value).strip()) if value is not None and str(value).strip() else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def refresh_seconds(param: str | None, setting: int) -> int:
    return bounded(param, bounded(setting, 30, MIN_REFRESH_S, MAX_REFRESH_S), MIN_REFRESH_S, MAX_REFRESH_S)


def rotate_seconds(param: str | None) -> int | None:
    """Seconds per tenant for ``?rotate=``; None: no rotation (missing, 0, 'off')."""
    if param is None or str(param).strip().lower() in ("", "0", "off", "no", "false"):
        return None
    return bounded(param, 60, MIN_ROTATE_S, MAX_ROTATE_S)


def rotation_index(epoch_seconds: float, every: int, count: int) -> int:
    """Which of ``count`` tenants is on screen: every screen with the same clock shows the same one."""
    if count <= 0:
        return 0
    return int(epoch_seconds // every) % count


REFRESH_CHOICES_S = (15, 30, 60, 120, 300)
ROTATE_CHOICES_S = (0, 20, 30, 60, 120)  # 0: no rotation


def wall_link_query(refresh: int, rotate: int | None) -> str:
    """The wall's query string for a kiosk link (before its token): kiosk mode, the refresh and the
    rotation the operator chose, each bounded as the wall bounds them when it reads them back."""
    query = f"kiosk=1&refresh={bounded(refresh, 30, MIN_REFRESH_S, MAX_REFRESH_S)}"
    rotation = rotate_seconds(str(rotate) if rotate else None)
    return query + (f"&rotate={rotation}" if rotation else "")


def period_start(epoch_seconds: float, every: int) -> int:
    """The start of the refresh period (a cache key shared by every screen in the same period)."""
    return int(epoch_seconds // every) * every


@dataclass(frozen=True)
class Freshness:
    level: str  # ok | amber | red
    age_seconds: float | None  # the oldest sign-in data among active tenants
    stale: int  # sources past their fresh limit
    failing: int  # sources whose latest attempt failed


def freshness(rows: Sequence[dict[str, Any]], signin_interval_s: float) -> Freshness:
    """From source-status rows: how old the sign-ins on the wall may be, as a colour. Red when any
    source is failing, when sign-ins are older than 10 intervals or were never collected; amber when
    older than 3 intervals or any source is stale. Standing states (not licensed, consent needed) are
    what the tenant is, not a collection problem: they count for none of these."""
    active = [r for r in rows if not r.get("standing")]
    signins = [r for r in active if r.get("source") == "signIns"]
    ages = [r["ageSeconds"] for r in signins if r.get("ageSeconds") is not None]
    never = [r for r in signins if r.get("ageSeconds") is None]
    oldest = max(ages) if ages else None
    stale = sum(not r.get("fresh") and not r.get("failing") for r in active)
    failing = sum(bool(r.get("failing")) for r in active)
    if failing or not signins or never or (oldest is not None and oldest > RED_INTERVALS * signin_interval_s):
        level = RED
    elif (oldest is not None and oldest > AMBER_INTERVALS * signin_interval_s) or stale:
        level = AMBER
    else:
        level = OK
    return Freshness(level, oldest, stale, failing)


def freshness_words(fresh: Freshness) -> str:
    """The freshness tile's caption: the cause of its colour first."""
    if fresh.failing:
        head = f"{fresh.failing} source(s) failing"
    elif fresh.level == RED:
        head = "collectors are far behind"
    elif fresh.level == AMBER:
        head = "collectors are falling behind"
    else:
        head = "collectors are keeping up"
    return head + (f" · {fresh.stale} stale" if fresh.stale else "")


def change_words(now: int, before: int) -> str:
    """'+12 (+40%)', '−3 (−10%)', '+12 (+0.4%)' (one decimal under 10 %), 'no change', '+5 (new)'."""
    delta = now - before
    if delta == 0:
        return "no change"
    sign = "+" if delta > 0 else "−"
    if before == 0:
        return f"{sign}{abs(delta)} (new)"
    share = abs(delta) / before
    return (
        f"{sign}{abs(delta)} ({sign}{share:.1%})"
        if share < 0.1
        else f"{sign}{abs(delta)} ({sign}{share:.0%})"
    )


@dataclass(frozen=True)
class Change:
    """A count beside the period before it, as a metric's delta shows it."""

    words: str  # '+12 (+40%)', '−3 (−10%)', 'no change'
    colour: str  # the delta's colour: red (worse), green (better), gray (no change)
    arrow: str  # "up", "down" or "off"


def blocked_change(now: int, before: int, sources_behind: int = 0) -> Change:
    """How a count of blocked sign-ins moved: fewer is good (green, down), more is bad (red, up). The
    arrow and colour are set from the numbers, never read back from the words (whose minus is U+2212).
    While sign-in sources are failing or behind, the count is incomplete: no change is claimed."""
    if sources_behind:
        return Change(f"incomplete: {sources_behind} sign-in source(s) behind", "gray", "off")
    if now == before:
        return Change(change_words(now, before), "gray", "off")
    if now < before:
        return Change(change_words(now, before), "green", "down")
    return Change(change_words(now, before), "red", "up")


def signin_sources_behind(rows: Sequence[dict[str, Any]]) -> int:
    """Sign-in sources (from source-status rows) that are failing or past their fresh limit, standing
    states (not licensed, consent needed) aside: while any is, blocked counts miss sign-ins."""
    return sum(
        1 for r in rows if r.get("source") == "signIns" and not r.get("standing") and not r.get("fresh")
    )


def alert_level(count: int | None) -> str | None:
    """A tile counting things that are broken right now (tenants with failing critical findings, API
    clients open to any IP): red when there is any, ok when none, None when unknown (not evaluated or
    not collected yet)."""
    if count is None:
        return None
    return RED if count else OK


def target_level(ratio: float | None, target: float) -> str | None:
    """A share with a target (MFA capable): amber below it, ok at or above, None when unknown."""
    if ratio is None:
        return None
    return AMBER if ratio < target else OK


@dataclass(frozen=True)
class OpenClients:
    names: tuple[str, ...]  # enabled API clients reachable from any IP, not accepted as a risk
    accepted: int  # such clients whose C-1 finding an operator accepted


def open_api_clients(clients: Sequence[object], findings: Sequence[Finding]) -> OpenClients:
    """Enabled CIPP API clients reachable from any address ('Any', or ranges covering every address such
    as 0.0.0.0/0), from the stored `ExecApiClient?Action=List` rows; those whose C-1 or C-2 finding is an
    accepted risk are counted apart."""
    accepted_ids = {
        str(f.subject.id if f.check == "C-1" else f.evidence.get("clientId")).lower()
        for f in findings
        if f.check in ("C-1", "C-2") and f.status == ACCEPTED
    }
    names, accepted = [], 0
    for client in clients:
        if not isinstance(client, dict) or client.get("Enabled") is not True:
            continue
        ranges = client_ranges(client)
        if ranges is None or not open_to_any_ip(ranges):
            continue
        if client_id(client).lower() in accepted_ids:
            accepted += 1
        else:
            names.append(client_name(client))
    return OpenClients(tuple(names), accepted)
