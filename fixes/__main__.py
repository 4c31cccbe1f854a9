"""`python -m fixes list | plan | apply | rollback`: the fix engine from a shell.

    python -m fixes list [--audit]                       fixes the latest findings offer (or the audit log)
    python -m fixes plan FIX [--tenant T] [--target ID] [--range R ...] [--egress-ip IP]
    python -m fixes apply FIX ... [--yes] [--acknowledge-warnings] [--actor NAME]
    python -m fixes rollback AUDIT_ID [--egress-ip IP] [--yes] [--acknowledge-warnings] [--actor NAME]

``--tenant`` defaults to the MSP tenant. The actor recorded is the OS user, ``cli:<os user>``, with the
Operator role (the CLI user holds the secrets); ``--actor NAME`` only adds what the user claims to be,
``cli:<os user> as NAME``, never replaces the OS user. A rollback is guarded like a forward fix: one that
takes ranges from a location an enabled block policy exempts, or leaves a block policy on, needs
``--egress-ip``. ``list --audit --format json`` gives each record's ``rollbackRefusal``: why it cannot be
rolled back, or null when it can. Exit status: 0 done (or nothing to change), 1 refused, failed
or not confirmed, 2 unusable input, with one line on standard error and never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError

from connectors.cipp import CippError
from connectors.graph import GraphError
from db.queries import active_tenants
from fixes.audit import AuditEntry
from fixes.catalogue import FIXES
from fixes.engine import FixEngine, Offer
from fixes.model import Actor, BadInput, FixRequest, Outcome, Plan
from safetext.terminal import terminal_output, terminal_value, write_error, write_output
from settings import (
    SettingsError,
    configured_secrets,
    describe_database_error,
    get_settings,
    missing_database_driver,
)

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


class Unusable(Exception):
    """Bad input for the CLI: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise Unusable(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m fixes", description="Perimeter's one-click fixes, from a shell.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = sub.add_parser("list", help="fixes the latest findings offer")
    listing.add_argument("--audit", action="store_true", help="show the audit log instead")
    listing.add_argument("--limit", type=int, default=100, help="audit records shown (newest first)")
    for name, text in (
        ("plan", "show the exact requests and the diff; change nothing"),
        ("apply", "plan, confirm, apply, verify and record a fix"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("fix", help=f"fix id: {', '.join(FIXES)}")
        command.add_argument("--tenant", help="tenant id (default: the MSP tenant)")
        command.add_argument("--target", default="", help="policy, named location or API client id")
        command.add_argument(
            "--range",
            dest="ranges",
            action="append",
            default=[],
            metavar="CIDR",
            help="a range to add (LOC-1) or one of the client's new ranges (C-1/C-2)",
        )
        command.add_argument("--egress-ip", default="", help="your public egress IP (lockout guard of A-3)")
    rollback = sub.add_parser("rollback", help="undo the change of an audit record")
    rollback.add_argument("audit_id", type=int)
    rollback.add_argument(
        "--egress-ip",
        default="",
        help="your public egress IP (the guards need it when the rollback takes ranges "
        "from a location a block policy exempts, or leaves a block policy on)",
    )
    for name in ("apply", "rollback"):
        command = sub.choices[name]
        command.add_argument("--yes", action="store_true", help="apply without asking")
        command.add_argument(
            "--acknowledge-warnings", action="store_true", help="proceed although the plan has warnings"
        )
        command.add_argument(
            "--actor",
            metavar="NAME",
            help="who you say you are: recorded as 'cli:<os user> as NAME' (the OS user is always recorded)",
        )
    for command in sub.choices.values():
        command.add_argument("--format", choices=("text", "json"), default="text")
    return parser


# --- output ------------------------------------------------------------------------------------------


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# Every tenant value goes into a line through terminal_value (a newline or an escape sequence in a
# policy name cannot start a line or drive the terminal); multi-line blocks (a request body, the diff)
# are JSON, whose strings never hold a raw line break, and go through terminal_output.
_v = terminal_value


def _pretty(value: Any) -> list[str]:
    text = "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return terminal_output(text).split("\n") if text else []


def _diff(plan: Plan) -> str:
    """Plan.diff() as shown in a terminal: split at JSON's own line breaks only (str.splitlines would
    also break a line at U+0085 or U+2028 inside a name, and fake a diff line)."""
    return "\n".join(
        difflib.unified_diff(_pretty(plan.before), _pretty(plan.after), "before", "after", lineterm="", n=4)
    )


def render_plan(plan: Plan) -> str:
    target = plan.target
    lines = [
        f"Fix:     {_v(plan.request.fix_id)} ({_v(plan.title)})"
        if plan.rollback_of is None
        else f"Fix:     roll back audit #{_v(plan.rollback_of)} ({_v(plan.request.fix_id)})",
        f"Change:  {_v(plan.summary)}",
        f"Tenant:  {_v(plan.tenant_id)}",
        f"Target:  {_v(target.type)} '{_v(target.name)}'"
        + (f" ({_v(target.id)})" if target.id else " (new)"),
    ]
    for call in plan.requests:
        lines.append(f"Request: {_v(call.method)} {_v(call.url)}")
        if call.body is not None:
            lines.append(_indent(terminal_output(json.dumps(call.body, indent=2, ensure_ascii=False))))
    diff = _diff(plan)
    if diff and not plan.unchanged:
        lines += ["Diff:", _indent(diff)]
    lines += [f"Warning: {_v(w)}" for w in plan.warnings] + [f"Note:    {_v(n)}" for n in plan.notes]
    if plan.irreversible:
        lines.append(f"Cannot be rolled back: {_v(plan.irreversible)}")
    if plan.refusal:
        lines.append(f"Refused: {_v(plan.refusal)}")
    return "\n".join(lines)


def render_outcome(outcome: Outcome) -> str:
    where = f" (audit #{_v(outcome.audit_id)})" if outcome.audit_id is not None else ""
    return f"{_v(outcome.outcome)}: {_v(outcome.message)}{where}"


def _offer_command(offer: Offer) -> str:
    request, spec = offer.request, offer.spec
    parts = ["python -m fixes apply", request.fix_id]
    if spec.scope == "client":
        parts += ["--tenant", request.tenant_id]
    if request.target_id:
        parts += ["--target", request.target_id]
    if spec.ranges == "required" or (spec.ranges == "optional" and offer.finding.get("check") == "C-1"):
        parts += ["--range", "CIDR"]
    if spec.needs_egress_ip:
        parts += ["--egress-ip", "YOUR_IP"]
    return " ".join(parts)


def _tenant_names(engine: FixEngine) -> dict[str, str]:
    with engine.db.connect() as conn:
        return {t.tenant_id.lower(): t.display_name for t in active_tenants(conn)}


def render_offers(offers: list[Offer], names: dict[str, str]) -> str:
    if not offers:
        return "No fix is offered: nothing failing has a fix, or nothing was collected and evaluated yet."
    lines = []
    for number, offer in enumerate(offers, 1):
        finding, subject = offer.finding, offer.finding.get("subject") or {}
        tenant = names.get(offer.request.tenant_id.lower(), offer.request.tenant_id)
        lines.append(
            f"{number:>3}. {_v(finding.get('check'))} {_v(finding.get('status'))} · {_v(tenant)} · "
            f"{_v(subject.get('type'))} '{_v(subject.get('name'))}' → {_v(offer.spec.title)}"
        )
        lines.append(f"     {_v(_offer_command(offer))}")
    return "\n".join(lines)


def render_audit(entries: list[AuditEntry], names: dict[str, str]) -> str:
    if not entries:
        return "The audit log is empty."
    lines = []
    for e in entries:
        undo = f" [rollback of #{_v(e.rollback_of)}]" if e.rollback_of is not None else ""
        tenant = names.get(e.tenant_id.lower(), e.tenant_id)
        lines.append(
            f"#{_v(e.id)} {e.at.isoformat(timespec='seconds')}Z {_v(e.actor)} {_v(e.outcome)}{undo} "
            f"{_v(e.fix_id)} · {_v(tenant)} · {_v(e.target_type)} '{_v(e.target_name)}': "
            f"{_v(e.message)}"
        )
    return "\n".join(lines)


# --- commands ----------------------------------------------------------------------------------------


def _engine() -> FixEngine:
    try:
        settings = get_settings()
    except SettingsError as error:
        raise Unusable(str(error)) from None
    return FixEngine.for_settings(settings)


def _request(args: argparse.Namespace, engine: FixEngine) -> FixRequest:
    spec = FIXES.get(args.fix)
    if spec is None:
        raise Unusable(f"unknown fix '{args.fix}' (known: {', '.join(FIXES)})")
    if spec.scope == "client" and not args.tenant:
        raise Unusable(f"{spec.id} needs --tenant (the client tenant's id)")
    return FixRequest(
        spec.id,
        args.tenant or engine.settings.msp_tenant_id,
        args.target.strip(),
        tuple(args.ranges),
        args.egress_ip.strip(),
    )


def confirmation_prompt(plan: Plan) -> str:
    """The question `apply` asks on the terminal (tenant text escaped: it is shown raw by input())."""
    return f"Apply this change to tenant {_v(plan.tenant_id)}? Type 'yes' to apply: "


def _confirmed(args: argparse.Namespace, plan: Plan) -> bool:
    if args.yes or not plan.ready or (plan.warnings and not args.acknowledge_warnings):
        return True  # refusals and unacknowledged warnings go to the engine, which records them
    if not sys.stdin.isatty():
        raise Unusable("stdin is not a terminal: pass --yes to apply without the prompt")
    answer = input(terminal_output(confirmation_prompt(plan)))
    return answer.strip().lower() in ("y", "yes")


def _apply(args: argparse.Namespace, engine: FixEngine, plan: Plan) -> int:
    if args.format == "text":
        write_output(render_plan(plan))
    if plan.unchanged:
        if args.format == "json":
            write_output(_json({"plan": plan.as_dict(), "outcome": None}))
        return EXIT_OK
    if not _confirmed(args, plan):
        write_output(
            _json({"plan": plan.as_dict(), "outcome": None})
            if args.format == "json"
            else "Not applied: nothing was changed."
        )
        return EXIT_REFUSED
    actor = Actor.cli(args.actor)
    outcome = engine.apply(plan, actor, acknowledge_warnings=args.acknowledge_warnings)
    if args.format == "json":
        write_output(_json({"plan": plan.as_dict(), "outcome": outcome.as_dict()}))
    else:
        hint = " (--acknowledge-warnings)" if "warning(s) to acknowledge" in outcome.message else ""
        write_output(render_outcome(outcome) + hint)
    return EXIT_OK if outcome.ok else EXIT_REFUSED


def run(args: argparse.Namespace) -> int:
    engine = _engine()
    if args.command == "list":
        names = _tenant_names(engine)
        if args.audit:
            entries = engine.audit_log(limit=args.limit)
            if args.format == "json":
                reasons = engine.rollback_reasons(entries)  # null: a rollback can be planned
                write_output(
                    _json({"audit": [{**e.as_dict(), "rollbackRefusal": reasons[e.id]} for e in entries]})
                )
            else:
                write_output(render_audit(entries, names))
        else:
            offers = engine.offers()
            write_output(
                _json({"offers": [{**o.as_dict(), "command": _offer_command(o)} for o in offers]})
                if args.format == "json"
                else render_offers(offers, names)
            )
        return EXIT_OK
    if args.command == "rollback":
        return _apply(args, engine, engine.plan_rollback(args.audit_id, args.egress_ip.strip()))
    plan = engine.plan(_request(args, engine))
    if args.command == "apply":
        return _apply(args, engine, plan)
    write_output(_json({"plan": plan.as_dict()}) if args.format == "json" else render_plan(plan))
    return EXIT_REFUSED if plan.refusal else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # tenant names on a terminal that cannot show them
    try:
        return run(_parser().parse_args(argv))
    except (Unusable, BadInput) as error:
        report_error(str(error))
        return EXIT_UNUSABLE
    except SQLAlchemyError as error:
        report_error(_database_error(error))
        return EXIT_UNUSABLE
    except ImportError as error:
        if missing_database_driver(error) is None:
            raise
        report_error(_database_error(error))
        return EXIT_UNUSABLE
    except PermissionError as error:
        report_error(f"refused: {error}")
        return EXIT_REFUSED
    except (GraphError, CippError) as error:
        report_error(f"failed: {error}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        report_error("interrupted; nothing more was changed")
        return EXIT_REFUSED


def _database_error(error: BaseException) -> str:
    """The line for a database failure: the URL without its password, then the missing driver or the
    error's first line."""
    try:
        settings = get_settings()
    except SettingsError:  # cannot happen after the engine was built; keep the line anyway
        first = next(iter(str(getattr(error, "orig", None) or error).splitlines()), "")
        return f"database: {first}"
    return describe_database_error(error, settings.database_url, settings.secret_values())


def report_error(line: str) -> None:
    write_error("fixes", line, configured_secrets())


if __name__ == "__main__":
    sys.exit(main())
