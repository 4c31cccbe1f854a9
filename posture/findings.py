"""The verdicts: one :class:`Finding` per check and subject, in the SPEC's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "n/a", "accepted"]
Severity = Literal["critical", "high", "medium", "low"]
SubjectType = Literal["tenant", "policy", "namedLocation", "range", "apiClient", "user"]

FAIL: Status = "fail"
ACCEPTED: Status = "accepted"  # set only by posture.accepted.apply_accepted, never by a check

# Statuses that ask for action; only these carry a fix and only these can be accepted as a risk.
ACTIONABLE: tuple[Status, ...] = (FAIL, "warn")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")  # most severe first


@dataclass(frozen=True)
class Subject:
    """What a finding is about. For a range, ``id`` is the range exactly as written in the source."""

    type: SubjectType
    id: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "name": self.name}


@dataclass(frozen=True)
class Finding:
    check: str
    tenant_id: str
    status: Status
    severity: Severity
    subject: Subject
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None
    # When the data the finding read was collected, and since when it is stale (its source's last
    # collection failed after that): from the snapshot's sourceStatus (posture.freshness); None without.
    data_as_of: str | None = None
    stale_since: str | None = None
    # The configuration change judged to have made it regress (db.history.ChangeRow.as_dict: versionId,
    # kind, objectId, seenAt, who, whoType, diff), set by the evaluation that saw it regress.
    change: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Exactly the SPEC's JSON keys (what users script against), and ``dataAsOf`` / ``staleSince``
        only when known (a snapshot file without sourceStatus gives neither), ``change`` only for a
        finding that regressed with a known cause."""
        out = {
            "check": self.check,
            "tenantId": self.tenant_id,
            "status": self.status,
            "severity": self.severity,
            "subject": self.subject.as_dict(),
            "message": self.message,
            "evidence": self.evidence,
            "fix": self.fix,
        }
        if self.data_as_of:
            out["dataAsOf"] = self.data_as_of
        if self.stale_since:
            out["staleSince"] = self.stale_since
        if self.change:
            out["change"] = self.change
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of :meth:`as_dict` (for findings read back from storage)."""
        subject = data["subject"]
        return cls(
            check=data["check"],
            tenant_id=data["tenantId"],
            status=data["status"],
            severity=data["severity"],
            subject=Subject(subject["type"], subject["id"], subject["name"]),
            message=data["message"],
            evidence=dict(data.get("evidence") or {}),
            fix=data.get("fix"),
            data_as_of=data.get("dataAsOf"),
            stale_since=data.get("staleSince"),
            change=data["change"] if isinstance(data.get("change"), dict) else None,
        )
