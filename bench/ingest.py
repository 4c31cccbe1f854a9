"""Sign-in ingest benchmark: the project's own parse-and-store path against a floor.

Builds N pages of 1,000 Graph-shaped beta sign-ins (from Microsoft's documented sample, varied),
then, into fresh SQLite files with the project's schema:
  * ingest — what the collectors do per page (connectors.graph.TenantGraph.each_signin_page): the
    page decoded into each sign-in's own JSON (db.rows.decode_signin_page), then
    db.store.ingest_signin_page: db.rows mapping, idempotent insert, every sign-in's policy outcomes
    (six policies each) and the failed sign-ins' index and rollups, one committed transaction per
    page, the cycle collector paused; WAL checkpoints on
    a background thread as in the collectors (db.engine.checkpoint_in_background), waiting at the
    end until they are done;
  * floor  — the plainest correct thing: json.loads + sqlite3 executemany of the same columns and
    of the policy outcomes' postings and would-be blocks (raw JSON re-serialised with json.dumps),
    same schema and indexes, one commit per page.
Pages are generated one at a time, so peak memory does not depend on N.

    python bench/ingest.py [--pages N] [--rounds R]
Ingest and floor are measured alternately, R rounds (a slow spell of a shared machine hits both
sides). The last line reads `ingest: <rows/s> rows/s, floor: <rows/s> rows/s, ratio: <x.xx>`, the
medians of the rounds; each side's best round is printed above it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import peak_rss_mb
from db import checkpoint_in_background, drain_checkpoints, open_database
from db.rows import SIGNIN_COLUMNS, decode_signin_page
from db.store import ingest_signin_page

ROOT = Path(__file__).resolve().parent.parent

SAMPLE_NAME = "signins_beta_list_ex1_password_failure_50126.response.json"
# shared/ beside the repository, else the tests' copy of it
SAMPLE = next(
    (
        folder / SAMPLE_NAME
        for folder in (ROOT.parent / "shared" / "graph-samples", ROOT / "tests" / "graph-samples")
        if (folder / SAMPLE_NAME).is_file()
    ),
    ROOT / "tests" / "graph-samples" / SAMPLE_NAME,
)
PAGE_SIZE = 1000
APPS = ["Azure Portal", "Office 365 Exchange Online", "Microsoft Teams", "CIPP", "SharePoint Online"]
# A tenant's Conditional Access policies, each with its result in every sign-in (as Graph logs them):
# every sign-in carries them all, so each stores one outcome row per policy (db.signin_index).
POLICY_IDS = [str(uuid.UUID(int=0xCA0000 + i)) for i in range(6)]
RESULTS = ["notApplied"] * 4 + ["success", "reportOnlyNotApplied", "reportOnlySuccess", "reportOnlyFailure"]
CODES = [
    (0, ""),
    (0, ""),
    (0, ""),
    (50126, "Invalid username or password."),
    (53003, "Access has been blocked by Conditional Access policies."),
    (50074, "Strong Authentication is required."),
]


def _template() -> dict:
    if SAMPLE.is_file():
        return json.loads(SAMPLE.read_text(encoding="utf-8"))["value"][0]
    return {
        "id": "",
        "createdDateTime": "",
        "userPrincipalName": "user@contoso.com",
        "status": {"errorCode": 0},
        "location": {"countryOrRegion": "US", "city": "Redmond"},
    }


def pages(count: int, seed: int = 1) -> Iterator[bytes]:
    """``count`` Graph pages (bytes, as they come off the wire), newest first, one at a time."""
    rng = random.Random(seed)
    template = _template()
    start = datetime(2026, 11, 21, 12, 0, 0)
    n = 0
    for _ in range(count):
        values = []
        for _ in range(PAGE_SIZE):
            obj = dict(template)
            obj["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
            obj["createdDateTime"] = (start - timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            obj["userPrincipalName"] = f"user{rng.randrange(3000)}@contoso.com"
            obj["appDisplayName"] = rng.choice(APPS)
            obj["ipAddress"] = f"20.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            code, reason = rng.choice(CODES)
            obj["status"] = {"errorCode": code, "failureReason": reason, "additionalDetails": None}
            obj["appliedConditionalAccessPolicies"] = [
                {
                    "id": policy_id,
                    "displayName": f"CA00{i}: policy {i}",
                    "enforcedGrantControls": ["Mfa"],
                    "enforcedSessionControls": [],
                    "result": rng.choice(RESULTS),
                }
                for i, policy_id in enumerate(POLICY_IDS)
            ]
            values.append(obj)
            n += 1
        yield json.dumps(
            {
                "@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns",
                "value": values,
            }
        ).encode()


def run_ingest(db_path: Path, count: int) -> float:
    engine = open_database(f"sqlite:///{db_path}")
    checkpoint_in_background(engine)  # as collectors.run.Cycle does
    elapsed = 0.0
    for body in pages(count):
        started = time.perf_counter()
        ingest_signin_page(engine, "bench-tenant", decode_signin_page(body).value)
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    drain_checkpoints(engine)  # the WAL copied back counts: the floor pays for its checkpoints too
    elapsed += time.perf_counter() - started
    engine.dispose()
    return elapsed


def run_floor(db_path: Path, count: int) -> float:
    open_database(f"sqlite:///{db_path}").dispose()  # same schema and indexes, then plain sqlite3
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    placeholders = ", ".join("?" * len(SIGNIN_COLUMNS))
    sql = f"INSERT OR IGNORE INTO signins ({', '.join(SIGNIN_COLUMNS)}) VALUES ({placeholders})"
    outcomes_sql = (
        "INSERT OR IGNORE INTO signin_policy_outcomes "
        "(tenant_id, policy_id, result, hour, first_id, signin_ids, count) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    would_block_sql = (
        "INSERT OR IGNORE INTO signin_would_block (tenant_id, policy_id, created_at, signin_id, result, "
        "user_principal_name, app_display_name, ip_address, country, cross_tenant_access_type, "
        "home_tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    elapsed = 0.0
    for body in pages(count):
        started = time.perf_counter()
        rows = []
        postings: dict[tuple[str, str, str], list[str]] = {}
        would_block = []
        for o in json.loads(body)["value"]:
            status, loc = o.get("status") or {}, o.get("location") or {}
            created = o["createdDateTime"].replace("T", " ").rstrip("Z")
            for policy in o.get("appliedConditionalAccessPolicies") or []:
                key = (policy["id"], policy["result"], created[:13] + ":00:00")
                postings.setdefault(key, []).append(o["id"])
                if policy["result"] in ("reportOnlyFailure", "reportOnlyInterrupted"):
                    would_block.append(
                        (
                            "bench-tenant",
                            policy["id"],
                            created,
                            o["id"],
                            policy["result"],
                            o.get("userPrincipalName") or "",
                            o.get("appDisplayName") or "",
                            o.get("ipAddress") or "",
                            loc.get("countryOrRegion") or "",
                            o.get("crossTenantAccessType") or "",
                            o.get("homeTenantId") or "",
                        )
                    )
            rows.append(
                (
                    o["id"],
                    "bench-tenant",
                    created,
                    o.get("userPrincipalName"),
                    o.get("userDisplayName"),
                    o.get("userId"),
                    o.get("appDisplayName"),
                    o.get("appId"),
                    o.get("ipAddress"),
                    loc.get("countryOrRegion"),
                    loc.get("city"),
                    status.get("errorCode") or 0,
                    status.get("failureReason"),
                    o.get("conditionalAccessStatus"),
                    o.get("isInteractive"),
                    o.get("authenticationRequirement"),
                    o.get("crossTenantAccessType"),
                    o.get("homeTenantId"),
                    json.dumps(o),
                )
            )
        conn.executemany(sql, rows)
        conn.executemany(
            outcomes_sql,
            [("bench-tenant", *key, min(ids), " ".join(ids), len(ids)) for key, ids in postings.items()],
        )
        conn.executemany(would_block_sql, would_block)
        conn.commit()
        elapsed += time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60, help="pages of 1,000 sign-ins (default 60)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="ingest and floor measured alternately this many times (default 5)",
    )
    args = parser.parse_args()
    if args.pages < 2:
        parser.error("--pages must be at least 2")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows = args.pages * PAGE_SIZE
    ingest_rates: list[float] = []
    floor_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_ingest(Path(tmp) / "warmup.db", 1)  # imports, first compile
        rss_before = peak_rss_mb()
        for round_no in range(1, args.rounds + 1):
            # Alternating, on fresh files each time: a slow spell of a shared machine hits both sides.
            # Each run starts with the previous one's writes on disk, so no run is charged for
            # another's writeback; files are deleted only at the end (ext4 discards on delete).
            ingest_db, floor_db = Path(tmp) / f"ingest{round_no}.db", Path(tmp) / f"floor{round_no}.db"
            os.sync()
            ingest_rates.append(rows / run_ingest(ingest_db, args.pages))
            os.sync()
            floor_rates.append(rows / run_floor(floor_db, args.pages))
            size_mb = ingest_db.stat().st_size / 1e6
            print(
                f"round {round_no}: ingest {ingest_rates[-1]:,.0f} rows/s, "
                f"floor {floor_rates[-1]:,.0f} rows/s",
                flush=True,
            )
        rss_after = peak_rss_mb()
    ingest_rate, floor_rate = statistics.median(ingest_rates), statistics.median(floor_rates)
    ingest_best, floor_best = max(ingest_rates), max(floor_rates)
    print(
        f"sign-ins: {rows:,} in {args.pages} pages a round, {args.rounds} rounds; database {size_mb:.0f} MB"
    )
    print(
        f"peak RSS: {rss_before:.0f} MB before ingest, {rss_after:.0f} MB after "
        f"(pages are streamed: independent of --pages)"
    )
    print(f"best rounds: ingest {ingest_best:,.0f} rows/s, floor {floor_best:,.0f} rows/s")
    print("targets: ingest >= 25,000 rows/s, ratio >= 0.50 (medians of the rounds)")
    print(
        f"ingest: {ingest_rate:,.0f} rows/s, floor: {floor_rate:,.0f} rows/s, "
        f"ratio: {ingest_rate / floor_rate:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
