"""`python -m collectors run --once | worker | status [--format json] | export-snapshot FILE`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from sqlalchemy.exc import SQLAlchemyError

from collectors.run import collect_once
from collectors.snapshot import build_snapshot, write_snapshot
from collectors.status import collection_health, state_counts, status_rows
from collectors.worker import Worker
from db import open_database
from safetext.secrets import redact
from safetext.terminal import terminal_output, terminal_value, write_error, write_output
from settings import SettingsError, describe_database_error, get_settings


class _SafeFormatter(logging.Formatter):
    """Log records on a terminal: one line each (controls escaped), secrets masked."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = terminal_value(redact(record.message, self.secrets))
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        return terminal_output(redact(super().formatException(ei), self.secrets))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return terminal_output(redact(super().formatStack(stack_info), self.secrets))


def _configure_logging(secrets: tuple[str, ...]) -> None:
    logging.basicConfig(level=logging.INFO)
    formatter = _SafeFormatter("%(asctime)s %(name)s %(levelname)s %(message)s", secrets)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def report_error(line: str, secrets: tuple[str, ...] = ()) -> None:
    write_error("collectors", line, secrets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m collectors", description="Collect Graph and CIPP data into the database."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one collection cycle")
    run.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="one full cycle, then exit (use `worker` to keep collecting)",
    )
    run.add_argument("--signins-only", action="store_true", help="only sign-ins")
    sub.add_parser("worker", help="collect on a schedule until stopped (APScheduler)")
    status = sub.add_parser("status", help="per tenant and source: last success, errors, freshness")
    status.add_argument("--format", choices=("table", "json"), default="table")
    export = sub.add_parser("export-snapshot", help="write snapshot format v1 from the database")
    export.add_argument("file", help="output path ('-' for standard output)")
    return parser


def _status(settings, engine, fmt: str) -> int:  # type: ignore[no-untyped-def]
    rows = status_rows(settings, engine)
    secrets = settings.secret_values()
    for row in rows:  # a service's error text may echo a URL or a secret
        for key in ("lastError", "stateDetail"):
            if row.get(key):
                row[key] = redact(row[key], secrets)
    health = collection_health(rows)
    if fmt == "json":
        summary = {**health.as_dict(), "states": state_counts(rows), "demoMode": settings.demo_mode}
        write_output(json.dumps({"summary": summary, "sources": rows}, indent=2))
        return 0
    if not rows:
        write_output("Nothing collected yet. Run `python -m collectors run --once`.")
        return 0
    header = f"{'tenant':32} {'source':26} {'last success':20} {'age':>7} {'rows':>7}  state"
    lines = [header, "-" * len(header)]
    for r in rows:
        age = "-" if r["ageSeconds"] is None else f"{r['ageSeconds']}s"
        state = r["state"]
        if state == "failing":
            state = ("ERROR: " + terminal_value(r["lastError"]))[:100]
        elif state == "not licensed":
            state = "not licensed (no Entra ID P1; re-checked daily)"
        elif state == "consent needed":
            state = f"consent needed: {r['adminConsentUrl'] or 'admin consent in the tenant'}"
        # Each tenant value through the terminal rule before it is cut and padded into the line.
        lines.append(
            f"{terminal_value(r['tenant'])[:32]:32} {terminal_value(r['source'])[:26]:26} "
            f"{terminal_value(r['lastSuccess'] or '-'):20} {age:>7} {r['rows']:>7}  {state}"
        )
    newest = "never" if health.newest_age_seconds is None else f"{health.newest_age_seconds}s old"
    lines.append(f"\n{health.tenants} tenants, {health.words()}; newest data {newest}")
    write_output("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        report_error(str(error))
        return 2
    secrets = settings.secret_values()
    _configure_logging(secrets)

    try:
        engine = open_database(settings.database_url)
    except Exception as error:  # noqa: BLE001 - one line, no traceback
        report_error(
            f"cannot open the {describe_database_error(error, settings.database_url, secrets)}", secrets
        )
        return 2
    try:
        return _command(args, settings, engine)
    except SQLAlchemyError as error:
        report_error(
            f"cannot read the {describe_database_error(error, settings.database_url, secrets)}", secrets
        )
        return 2


def _command(args: argparse.Namespace, settings, engine) -> int:  # type: ignore[no-untyped-def]
    if args.command == "run":
        report = collect_once(settings, engine, signins_only=args.signins_only)
        document = report.as_dict()
        document["errors"] = [redact(e, settings.secret_values()) for e in document["errors"]]
        write_output(json.dumps(document, indent=2))
        return 0 if not report.errors else 1
    if args.command == "worker":
        code = Worker(settings, engine).run()
        logging.shutdown()
        os._exit(code)  # a cycle still running in its thread is safe to drop: nothing half-committed
    if args.command == "status":
        return _status(settings, engine, args.format)
    if args.command == "export-snapshot":
        snapshot = build_snapshot(settings, engine)
        if args.file == "-":
            write_output(json.dumps(snapshot, indent=2))
        else:
            try:
                write_snapshot(snapshot, args.file)
            except OSError as error:
                report_error(f"cannot write {args.file}: {error.strerror}")
                return 2
            write_output(
                f"snapshot written to {terminal_value(args.file)}: {len(snapshot['tenants'])} tenants"
            )
        return 0
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: not an error of ours. Python's documented remedy.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
