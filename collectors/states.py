"""Standing answers that are a state of a tenant or source, not an outage (REFERENCE.md, "What real
services do that a naive client misses"):

- **not licensed**: a tenant without Entra ID P1/P2 answers 403 (some callers have seen 401) with code
  ``Authentication_RequestFromNonPremiumTenantOrB2CTenant`` on sign-ins and the ``reports/``
  endpoints. Only those licence-bound sources get this state; the tenant's others still collect.
- **consent needed**: the token request itself fails with AADSTS700016 (app not found in the
  directory), AADSTS7000229 (no service principal) or AADSTS65001 (consent not granted). That is the
  whole tenant: nothing can be read until an admin consents.

Neither is retried as an error every cycle; they are re-checked on their own, slower rhythm.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from connectors.sources import DIRECTORY_AUDITS, SIGNINS

NOT_LICENSED = "not-licensed"
CONSENT_NEEDED = "consent-needed"
STATES = (NOT_LICENSED, CONSENT_NEEDED)

# What a reader sees (status table, JSON, dashboard).
FRESH, STALE, FAILING = "fresh", "stale", "failing"
LABELS = {NOT_LICENSED: "not licensed", CONSENT_NEEDED: "consent needed"}

# The sources Entra ID P1/P2 gates (sign-ins, directory audits and the reports/ family).
LICENCE_BOUND = frozenset({SIGNINS, DIRECTORY_AUDITS, "userRegistrationDetails"})
NON_PREMIUM_CODE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
CONSENT_CODES = ("700016", "7000229", "65001")
_AADSTS = re.compile(r"AADSTS(\d+)")

# A licence is bought on a business day, not within minutes: asking once a day costs one request per
# source and shows a new P1 within a day (the "Collect now" button and the CLI do not wait for it).
NOT_LICENSED_RECHECK = timedelta(days=1)
# Consent is granted by a person following the link we show; they expect to see data soon after, so
# re-ask hourly (12 full cycles at the default 5-minute interval, one token request each) rather
# than daily, yet not every cycle: the failed token request is the whole of that tenant's traffic.
CONSENT_RECHECK = timedelta(hours=1)


def classify(error: BaseException, source: str) -> str | None:
    """The standing state ``error`` reports for ``source``, or None when it is a plain error."""
    text = str(error)
    codes = set(_AADSTS.findall(text))
    if codes & set(CONSENT_CODES):
        return CONSENT_NEEDED
    status = getattr(error, "status", None)
    if source in LICENCE_BOUND and NON_PREMIUM_CODE.lower() in text.lower() and status in (401, 403, None):
        return NOT_LICENSED
    return None


def recheck_after(state: str) -> timedelta:
    return NOT_LICENSED_RECHECK if state == NOT_LICENSED else CONSENT_RECHECK


def due(state: str | None, last_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether a source (or tenant) in ``state`` should be asked again now."""
    if state not in STATES or last_attempt_at is None:
        return True
    return now - last_attempt_at >= recheck_after(state)


def valid_tenant_id(tenant_id: object) -> str | None:
    """``tenant_id`` as a canonical lower-case GUID, or None when it is anything else."""
    if not isinstance(tenant_id, str) or len(tenant_id) != 36:
        return None
    try:
        parsed = uuid.UUID(tenant_id)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if canonical == tenant_id.lower() else None


def admin_consent_url(tenant_id: object, client_id: object) -> str | None:
    """Microsoft's admin-consent link for our app in one tenant, built only from a GUID tenant id
    and a GUID client id (never from tenant text); None when either is not a GUID."""
    tenant, client = valid_tenant_id(tenant_id), valid_tenant_id(client_id)
    if tenant is None or client is None:
        return None
    return f"https://login.microsoftonline.com/{tenant}/adminconsent?client_id={client}"


def reader_state(state: str | None, failing: bool, fresh: bool) -> str:
    """One word for a reader: a standing state first, then failing, fresh or stale."""
    if state in LABELS:
        return LABELS[state]
    if failing:
        return FAILING
    return FRESH if fresh else STALE
