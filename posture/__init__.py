"""Posture: catalogue v1 of the CIPP perimeter checks, as a pure function of a snapshot.

    findings = evaluate(load_snapshot("snapshot.json"))
    findings = apply_accepted(findings, accepted_risks, now)

No I/O happens here except :func:`load_snapshot`; no database, no Streamlit.
"""

from posture.accepted import AcceptedRisk, apply_accepted
from posture.catalogue import CATALOGUE, CHECKS_BY_ID
from posture.check import Check
from posture.engine import evaluate
from posture.findings import Finding, Subject
from posture.options import PostureOptions
from posture.snapshot import SnapshotError, load_snapshot, validate_snapshot

__all__ = [
    "AcceptedRisk",
    "CATALOGUE",
    "CHECKS_BY_ID",
    "Check",
    "Finding",
    "PostureOptions",
    "SnapshotError",
    "Subject",
    "apply_accepted",
    "evaluate",
    "load_snapshot",
    "validate_snapshot",
]
