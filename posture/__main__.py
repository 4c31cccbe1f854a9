"""`python -m posture check [SNAPSHOT.json] --format json|table [--include-accepted]`.

Exit status: 0 when nothing fails, 1 when a check fails (accepted findings never count), 2 on unusable
input, with one line on standard error naming the file (or setting, or database) and the bad field.

An entry point, so it sits above every layer (the layer contract exempts ``*.__main__``): without a
snapshot it reads the latest collected data through the collectors' export and the settings.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from collectors.snapshot import build_snapshot
from db import open_database
from db.posture_store import load_accepted
from posture.accepted import AcceptedRisk, apply_accepted
from posture.engine import evaluate
from posture.findings import ACCEPTED, FAIL
from posture.options import PostureOptions
from posture.report import render_json, render_table
from posture.snapshot import SnapshotError, load_snapshot, validate_snapshot
from safetext.secrets import redact
from safetext.terminal import write_error, write_output
from settings import (
    SettingsError,
    configured_secrets,
    describe_database_error,
    get_settings,
    missing_database_driver,
    posture_options,
)

EXIT_OK, EXIT_FAILING, EXIT_UNUSABLE = 0, 1, 2


class UnusableInput(Exception):
    """One line for a person: what could not be used and why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m posture", description="Posture checks (catalogue v1).")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="evaluate every check and print the findings")
    check.add_argument(
        "snapshot", nargs="?", help="a snapshot file (format v1); without it, the latest collected data"
    )
    check.add_argument("--format", choices=("json", "table"), default="table")
    check.add_argument("--include-accepted", action="store_true", help="also show accepted findings")
    check.add_argument(
        "--cipp-app-id",
        action="append",
        metavar="APP_ID",
        help="the CIPP app's id (A-1 accepts a block policy on it instead of all cloud apps); "
        "default with collected data: PERIMETER_CIPP_APP_ID",
    )
    return parser


Source = tuple[dict[str, Any], PostureOptions, list[AcceptedRisk]]  # snapshot, options, acceptances


def _from_file(path: str, cipp_app_ids: list[str]) -> Source:
    try:
        snapshot = load_snapshot(path)
    except SnapshotError as error:
        raise UnusableInput(str(error)) from None
    return snapshot, PostureOptions(cipp_app_ids=tuple(cipp_app_ids)), []


def _from_database(cipp_app_ids: list[str]) -> Source:
    try:
        settings = get_settings()
    except SettingsError as error:
        raise UnusableInput(str(error)) from None
    secrets = settings.secret_values()
    where = f"database {redact(settings.database_url, secrets)}"
    try:
        engine = open_database(settings.database_url)
        snapshot = build_snapshot(settings, engine, signins="posture")
        with engine.connect() as conn:
            accepted = load_accepted(conn)
    except (SQLAlchemyError, ImportError) as error:
        if isinstance(error, ImportError) and missing_database_driver(error) is None:
            raise
        raise UnusableInput(describe_database_error(error, settings.database_url, secrets)) from None
    try:
        validate_snapshot(snapshot, source=where)
    except SnapshotError as error:
        raise UnusableInput(str(error)) from None
    if not snapshot.get("tenants"):
        raise UnusableInput(f"{where}: nothing collected yet (run `python -m collectors run --once`)")
    options = posture_options(settings, cipp_app_ids)
    return snapshot, options, accepted


def check(args: argparse.Namespace) -> int:
    cipp_app_ids = args.cipp_app_id or []
    if args.snapshot is not None:
        snapshot, options, accepted = _from_file(args.snapshot, cipp_app_ids)
    else:
        snapshot, options, accepted = _from_database(cipp_app_ids)
    findings = apply_accepted(evaluate(snapshot, options), accepted, datetime.now(UTC))
    shown = [f for f in findings if args.include_accepted or f.status != ACCEPTED]
    if args.format == "json":
        write_output(render_json(shown))
    else:
        names = {
            str(t.get("tenantId")).lower(): str(t.get("displayName") or "")
            for t in snapshot.get("tenants") or []
        }
        write_output(render_table(shown, names, hidden_accepted=len(findings) - len(shown)))
    return EXIT_FAILING if any(f.status == FAIL for f in findings) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # tenant names on a terminal that cannot show them
    args = _parser().parse_args(argv)
    try:
        return check(args)
    except UnusableInput as error:
        write_error("posture", str(error), configured_secrets())
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
