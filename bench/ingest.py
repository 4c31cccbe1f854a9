"""Sign-in ingest benchmark: the project's own parse-and-store path against a floor and a ceiling.

Builds N pages of 1,000 Graph-shaped beta sign-ins (from Microsoft's documented sample, varied),
then, into fresh SQLite files with the project's schema:
  * ingest  — what the collectors do with each page (connectors.graph.TenantGraph.each_signin_page,
    collectors.run): the page checked (db.rows.decode_signin_page) and handed to the worker's
    db.signin_pipeline.SigninPipeline, which prepares it in its parsing process (db.rows mapping,
    each sign-in's JSON compressed with the database's zstd dictionary (db.signin_raw), every
    sign-in's policy outcomes (six policies each), the failed sign-ins' index and rollups) while the
    caller writes the pages before it: idempotent insert, one committed transaction per page; SQLite's
    own WAL checkpoints, in the commits, as in the collectors, and the last one as the engine closes,
    on the clock. The parsing processes are started before the clock, as the worker starts them once;
    the pages are made before it too (the pipeline would overlap their making);
  * floor   — the plainest correct thing: json.loads + sqlite3 executemany of the same columns and
    of the policy outcomes' postings and would-be blocks (raw JSON re-serialised with json.dumps and
    compressed with the same dictionary), same schema and indexes, one commit per page;
  * ceiling — no parsing at all: the very statements and rows the ingest wrote (recorded once from
    the project's path), replayed with sqlite3 executemany into the same schema, one commit per page:
    what SQLite alone costs for this data, in one thread (the ingest has a second core for parsing).
Each round's file starts with the dictionary already trained, as a database after its first page;
training (once per database, on its first page) is timed apart. The floor generates its pages one at
a time; the ingest's pages and the ceiling's recorded rows are held (peak memory grows with N).

    python bench/ingest.py [--pages N] [--rounds R]
The three are measured in turn, R rounds (a slow spell of a shared machine hits all sides). The last
lines read `ingest: <rows/s> rows/s, floor: <rows/s> rows/s, ratio: <x.xx>` and
`ceiling: <rows/s> rows/s, ingest's share of it: <x.xx>`, the medians of the rounds; each side's best
round is printed above them.
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

import zstandard
from sqlalchemy import insert, select

from bench.common import peak_rss_mb
from db import open_database, write_transaction
from db.driver import observing_writes
from db.models import SignInDictionary
from db.rows import SIGNIN_COLUMNS, decode_signin_page
from db.signin_pipeline import SigninPipeline, start_parsers
from db.signin_raw import LEVEL
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


Dictionary = tuple[int, datetime, int, bytes]  # a signin_dictionaries row


def train_once(db_path: Path) -> tuple[Dictionary, float]:
    """The dictionary a database trains on its first page, and how long that page took."""
    engine = open_database(f"sqlite:///{db_path}")
    started = time.perf_counter()
    ingest_signin_page(engine, "bench-tenant", decode_signin_page(next(pages(1, seed=99))).value)
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        d = SignInDictionary
        row = conn.execute(select(d.dict_id, d.trained_at, d.samples, d.body)).one()
    engine.dispose()
    return (row[0], row[1], row[2], row[3]), elapsed


def _with_dictionary(db_path: Path, dictionary: Dictionary) -> None:
    """A new file with the project's schema and the dictionary (as after a database's first page)."""
    engine = open_database(f"sqlite:///{db_path}")
    dict_id, trained_at, samples, body = dictionary
    with write_transaction(engine) as conn:
        conn.execute(
            insert(SignInDictionary).values(
                dict_id=dict_id, trained_at=trained_at, samples=samples, body=body
            )
        )
    engine.dispose()


def run_ingest(db_path: Path, count: int, dictionary: Dictionary) -> float:
    _with_dictionary(db_path, dictionary)
    bodies = list(pages(count))  # made before the clock starts: the pipeline overlaps what it times
    engine = open_database(f"sqlite:///{db_path}")
    start_parsers()  # the worker's parsing processes live as long as the worker
    with SigninPipeline(engine) as pipeline:
        started = time.perf_counter()
        written = []
        for body in bodies:
            decode_signin_page(body)  # as connectors.graph.TenantGraph.each_signin_page does
            written.append(pipeline.submit("bench-tenant", body))
        pipeline.drain()
        engine.dispose()  # its last checkpoint counts: the floor and the ceiling pay for theirs too
        elapsed = time.perf_counter() - started
    stored = sum(page.result()[0] for page in written)  # a failed page raises here
    if stored != count * PAGE_SIZE:
        raise SystemExit(f"ingest stored {stored:,} sign-ins, not {count * PAGE_SIZE:,}")
    return elapsed


Statements = list[list[tuple[str, list]]]  # per page: (SQL, the driver's rows) in order


def record_writes(db_path: Path, count: int, dictionary: Dictionary) -> Statements:
    """The statements and rows the project's path writes for each page (db.driver sends every write
    of the ingest; db.driver.observing_writes hands them over), for the ceiling to replay. Page by
    page in this thread: the pipeline writes the very same rows."""
    recorded: Statements = []
    _with_dictionary(db_path, dictionary)
    engine = open_database(f"sqlite:///{db_path}")
    try:
        with observing_writes(lambda sql, parameters: recorded[-1].append((sql, parameters))):
            for body in pages(count):
                recorded.append([])
                ingest_signin_page(engine, "bench-tenant", decode_signin_page(body).value)
    finally:
        engine.dispose()
    return recorded


def run_ceiling(db_path: Path, statements: Statements) -> float:
    open_database(f"sqlite:///{db_path}").dispose()  # same schema and indexes, then plain sqlite3
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    elapsed = 0.0
    for page in statements:
        started = time.perf_counter()
        for sql, rows in page:
            conn.executemany(sql, rows)
        conn.commit()
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    conn.close()  # its checkpoint: the WAL copied back counts, as for the others
    elapsed += time.perf_counter() - started
    return elapsed


def run_floor(db_path: Path, count: int, dictionary: Dictionary) -> float:
    _with_dictionary(db_path, dictionary)  # same schema and indexes, then plain sqlite3
    compress = zstandard.ZstdCompressor(
        level=LEVEL, dict_data=zstandard.ZstdCompressionDict(dictionary[3])
    ).compress
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
                    compress(json.dumps(o).encode()),
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
        help="ingest, floor and ceiling measured in turn this many times (default 5)",
    )
    args = parser.parse_args()
    if args.pages < 2:
        parser.error("--pages must be at least 2")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows = args.pages * PAGE_SIZE
    ingest_rates: list[float] = []
    floor_rates: list[float] = []
    ceiling_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        dictionary, first_page = train_once(Path(tmp) / "first.db")  # also imports, first compile
        run_ingest(Path(tmp) / "warmup.db", 1, dictionary)
        statements = record_writes(Path(tmp) / "recorded.db", args.pages, dictionary)
        rss_before = peak_rss_mb()
        for round_no in range(1, args.rounds + 1):
            # In turn, on fresh files each time: a slow spell of a shared machine hits every side.
            # Each run starts with the previous one's writes on disk, so no run is charged for
            # another's writeback; files are deleted only at the end (ext4 discards on delete).
            ingest_db, floor_db = Path(tmp) / f"ingest{round_no}.db", Path(tmp) / f"floor{round_no}.db"
            ceiling_db = Path(tmp) / f"ceiling{round_no}.db"
            os.sync()
            ingest_rates.append(rows / run_ingest(ingest_db, args.pages, dictionary))
            os.sync()
            floor_rates.append(rows / run_floor(floor_db, args.pages, dictionary))
            os.sync()
            ceiling_rates.append(rows / run_ceiling(ceiling_db, statements))
            size_mb = ingest_db.stat().st_size / 1e6
            print(
                f"round {round_no}: ingest {ingest_rates[-1]:,.0f} rows/s, "
                f"floor {floor_rates[-1]:,.0f} rows/s, ceiling {ceiling_rates[-1]:,.0f} rows/s",
                flush=True,
            )
        rss_after = peak_rss_mb()
    ingest_rate, floor_rate = statistics.median(ingest_rates), statistics.median(floor_rates)
    ceiling_rate = statistics.median(ceiling_rates)
    print(
        f"sign-ins: {rows:,} in {args.pages} pages a round, {args.rounds} rounds; database {size_mb:.0f} MB "
        f"({size_mb * 1e6 / rows:,.0f} B per sign-in, raw JSON compressed)"
    )
    print(f"dictionary training, once per database: its first page took {first_page * 1000:.0f} ms")
    print(
        f"peak RSS: {rss_before:.0f} MB before ingest, {rss_after:.0f} MB after "
        f"(the floor streams its pages; the ingest's pages and the ceiling's rows are held)"
    )
    print(
        f"best rounds: ingest {max(ingest_rates):,.0f} rows/s, floor {max(floor_rates):,.0f} rows/s, "
        f"ceiling {max(ceiling_rates):,.0f} rows/s"
    )
    print("targets: ingest >= 25,000 rows/s, ratio >= 0.50, share of the ceiling >= 0.50 (medians)")
    print(
        f"ingest: {ingest_rate:,.0f} rows/s, floor: {floor_rate:,.0f} rows/s, "
        f"ratio: {ingest_rate / floor_rate:.2f}"
    )
    print(f"ceiling: {ceiling_rate:,.0f} rows/s, ingest's share of it: {ingest_rate / ceiling_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
