"""One-click fixes, never blind: plan → guard → apply → verify → audit, and rollback.

The one engine behind the dashboard's fix buttons and ``python -m fixes``:

    from fixes import Actor, FixEngine, FixRequest, fix_for_finding
    engine = FixEngine(settings, db)
    plan = engine.plan(fix_for_finding(finding))        # read-only; plan.diff(), .warnings, .refusal
    outcome = engine.apply(plan, Actor("alice@msp.example", ["Operator"]))
    engine.rollback(outcome.audit_id, actor, egress_ip="203.0.113.7")

Layout: ``engine`` (the flow), ``model`` (plain data), ``context`` (reads and writes through the
collectors' Graph and CIPP clients), ``audit`` (the append-only log), ``cidr`` (strict ranges),
``graph_json`` (minimal PATCH bodies, comparisons, rebasing onto a fresh read), ``guards`` (the one guard
set every write passes, rollbacks included), ``plans`` (shared builders), ``exposure`` (which writes open
access: the one confirmation rule), one module per fix family (``client_policy``, ``technician_policy``,
``trusted_location``, ``service_account_policy``, ``cipp``) and ``catalogue`` (every fix by id).
"""

from fixes.audit import AuditEntry
from fixes.catalogue import CATALOGUE, FIXES, fix_for_finding
from fixes.cidr import RangeError, parse_range, parse_ranges
from fixes.engine import FixEngine, Offer
from fixes.exposure import Confirmation, FindingRef
from fixes.model import (
    CONFLICT,
    OPERATOR_ROLE,
    Actor,
    BadInput,
    FixRequest,
    FixSpec,
    Outcome,
    Plan,
    holds_role,
)

__all__ = [
    "CATALOGUE",
    "CONFLICT",
    "Confirmation",
    "FIXES",
    "OPERATOR_ROLE",
    "Actor",
    "AuditEntry",
    "BadInput",
    "FixEngine",
    "FixRequest",
    "FindingRef",
    "FixSpec",
    "Offer",
    "Outcome",
    "Plan",
    "RangeError",
    "fix_for_finding",
    "holds_role",
    "parse_range",
    "parse_ranges",
]
