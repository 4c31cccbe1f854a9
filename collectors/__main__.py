"""`python -m collectors run --once | worker | status [--format json] | export-snapshot FILE`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from settings import SettingsError, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collectors",
                                     description="Collect Graph and CIPP data into the database.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one collection cycle")
    run.add_argument("--once", action="store_true", required=True,
                     help="one full cycle, then exit (use `worker` to keep collecting)")
    run.add_argument("--signins-only", action="store_true", help="only sign-ins")
    sub.add_parser("worker", help="collect on a schedule until stopped (APScheduler)")
    status = sub.add_parser("status", help="per tenant and source: last success, errors, freshness")
    status.add_argument("--format", choices=("table", "json"), default="table")
    export = sub.add_parser("export-snapshot", help="write snapshot format v1 from the database")
    export.add_argument("file", help="output path ('-' for standard output)")
    return parser


def _status(settings, engine, fmt: str) -> int:  # type: ignore[no-untyped-def]
    from collectors.status import status_rows

    rows = status_rows(settings, engine)
    tenants = sorted({r["tenantId"] for r in rows})
    if fmt == "json":
        summary = {"tenants": len(tenants), "sources": len(rows),
                   "fresh": sum(r["fresh"] for r in rows),
                   "failing": sum(r["failing"] for r in rows),
                   "demoMode": settings.demo_mode}
        print(json.dumps({"summary": summary, "sources": rows}, indent=2))
        return 0
    if not rows:
        print("Nothing collected yet. Run `python -m collectors run --once`.")
        return 0
    header = f"{'tenant':32} {'source':26} {'last success':20} {'age':>7} {'rows':>7}  state"
    print(header)
    print("-" * len(header))
    for r in rows:
        age = "-" if r["ageSeconds"] is None else f"{r['ageSeconds']}s"
        state = "ERROR: " + (r["lastError"] or "") if r["failing"] else (
            "fresh" if r["fresh"] else "stale")
        print(f"{r['tenant'][:32]:32} {r['source'][:26]:26} {(r['lastSuccess'] or '-'):20} "
              f"{age:>7} {r['rows']:>7}  {state[:100]}")
    print(f"\n{len(tenants)} tenants, {sum(r['fresh'] for r in rows)}/{len(rows)} sources fresh, "
          f"{sum(r['failing'] for r in rows)} failing")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"collectors: {error}", file=sys.stderr)
        return 2
    from db import open_database

    try:
        engine = open_database(settings.database_url)
    except Exception as error:  # noqa: BLE001 - one line, no traceback
        print(f"collectors: cannot open the database {settings.database_url}: "
              f"{' '.join(str(error).split())[:300]}", file=sys.stderr)
        return 2

    if args.command == "run":
        from collectors.run import collect_once

        report = collect_once(settings, engine, signins_only=args.signins_only)
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if not report.errors else 1
    if args.command == "worker":
        from collectors.worker import Worker

        Worker(settings, engine).run()
        logging.shutdown()
        os._exit(0)  # a cycle still running in its thread is safe to drop: nothing half-committed
    if args.command == "status":
        return _status(settings, engine, args.format)
    if args.command == "export-snapshot":
        from collectors.snapshot import build_snapshot, write_snapshot

        snapshot = build_snapshot(settings, engine)
        if args.file == "-":
            sys.stdout.write(json.dumps(snapshot, indent=2) + "\n")
        else:
            try:
                write_snapshot(snapshot, args.file)
            except OSError as error:
                print(f"collectors: cannot write {args.file}: {error.strerror}", file=sys.stderr)
                return 2
            print(f"snapshot written to {args.file}: {len(snapshot['tenants'])} tenants")
        return 0
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: not an error of ours. Python's documented remedy.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
