"""Every fix, by id (the ids posture findings carry in their `fix`), and findings → fix requests."""

from __future__ import annotations

from typing import Any

from fixes import cipp, client_policy, service_account_policy, technician_policy, trusted_location
from fixes.model import FixRequest, FixSpec
from graphjson.values import as_dict, text
from posture.findings import ACTIONABLE

CATALOGUE: tuple[FixSpec, ...] = (
    trusted_location.ADD_RANGE,
    technician_policy.CREATE,
    technician_policy.ENABLE,
    service_account_policy.CREATE,
    service_account_policy.REQUIRE_MFA,
    service_account_policy.SIGN_IN_EVERY_TIME,
    service_account_policy.REMOVE_LOCATIONS,
    service_account_policy.ENABLE,
    cipp.SET_RANGES,
    cipp.SAVE_TO_AZURE,
    client_policy.EXCLUDE_SERVICE_PROVIDER,
)
FIXES: dict[str, FixSpec] = {spec.id: spec for spec in CATALOGUE}
assert len(FIXES) == len(CATALOGUE), "duplicate fix id"


def fix_for_finding(finding: dict[str, Any]) -> FixRequest | None:
    """The fix request a failing or warning finding offers (None when it offers none).

    The request may still need input a page must ask for: LOC-1's range, A-3's egress IP, and the
    ranges of an API client that has none (see the spec's ``ranges``/``needs_egress_ip``).
    """
    spec = FIXES.get(text(finding.get("fix")))
    if spec is None or finding.get("status") not in ACTIONABLE:
        return None
    subject, evidence = as_dict(finding.get("subject")), as_dict(finding.get("evidence"))
    if finding.get("check") == "B-1" and subject.get("type") == "policy":
        # A policy exists but includes others too, or excludes the account: creating another one fixes
        # neither.
        return None
    target = ""
    if spec.target == "policy" and subject.get("type") == "policy":
        target = text(subject.get("id"))
    elif spec.target == "apiClient":
        # C-1 and C-3 findings are about the client; C-2's are about one of its ranges.
        is_client = subject.get("type") == "apiClient"
        target = text(subject.get("id")) if is_client else text(evidence.get("clientId"))
    return FixRequest(spec.id, text(finding.get("tenantId")), target)
