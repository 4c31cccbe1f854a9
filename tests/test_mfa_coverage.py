"""MFA coverage: computed with posture's own rules, stored per tenant and day, read back with its trend."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from posture_fixtures import (
    CLIENT_ID,
    CLIENT_STAFF_ID,
    MSP_ID,
    client,
    good_snapshot,
    msp,
    registration,
    user,
)

from db import write_transaction
from db.mfa_store import mfa_coverage_latest, mfa_trend, store_mfa_coverage
from investigate.mfa import CONDITIONAL_ACCESS, NONE, SECURITY_DEFAULTS, UNKNOWN, TenantMfa, coverage
from posture import evaluate


def rows_of(snapshot: dict) -> dict[str, TenantMfa]:
    return {row.tenant_id: row for row in coverage(snapshot, evaluate(snapshot))}


def test_coverage_counts_enabled_members_as_mfa_1_does():
    snapshot = good_snapshot()
    tenant = client(snapshot)
    tenant["users"].append(user("u-off", "gone@tailspintoys.com", enabled=False))
    tenant["users"].append(user("u-guest", "g@else.example", user_type="Guest"))
    tenant["userRegistrationDetails"] += [
        registration("u-off", "gone@tailspintoys.com", capable=False),
        registration("u-guest", "g@else.example", capable=False, user_type="guest"),
    ]
    row = rows_of(snapshot)[CLIENT_ID]
    assert (row.enabled_members, row.mfa_capable) == (2, 2)
    assert row.coverage == 1.0


def test_a_member_who_cannot_do_mfa_lowers_the_coverage():
    snapshot = good_snapshot()
    [staff] = [r for r in client(snapshot)["userRegistrationDetails"] if r["id"] == CLIENT_STAFF_ID]
    staff["isMfaCapable"] = False
    row = rows_of(snapshot)[CLIENT_ID]
    assert (row.enabled_members, row.mfa_capable, row.coverage) == (2, 1, 0.5)


def test_admins_who_are_not_mfa_capable_are_counted():
    snapshot = good_snapshot()
    for registration_detail in msp(snapshot)["userRegistrationDetails"]:
        if registration_detail["isAdmin"]:
            registration_detail["isMfaCapable"] = False
            break
    row = rows_of(snapshot)[MSP_ID]
    assert row.admins == 3 and row.admins_capable == 2


def test_registered_methods_are_counted_per_method():
    snapshot = good_snapshot()
    registrations = client(snapshot)["userRegistrationDetails"]
    registrations[0]["methodsRegistered"] = ["microsoftAuthenticatorPush", "fido2"]
    registrations[1]["methodsRegistered"] = ["microsoftAuthenticatorPush"]
    assert rows_of(snapshot)[CLIENT_ID].methods == {"microsoftAuthenticatorPush": 2, "fido2": 1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.update(securityDefaults={"isEnabled": True}), SECURITY_DEFAULTS),
        (lambda t: None, CONDITIONAL_ACCESS),
        (lambda t: t.update(conditionalAccessPolicies=[]), NONE),
        (lambda t: (t.pop("conditionalAccessPolicies"), t.pop("securityDefaults")), UNKNOWN),
    ],
)
def test_enforcement_is_read_from_mfa_3(change, expected):
    snapshot = good_snapshot()
    change(client(snapshot))
    row = rows_of(snapshot)[CLIENT_ID]
    assert row.enforcement == expected
    if expected == CONDITIONAL_ACCESS:
        assert row.enforcement_detail == "'CA001: Require MFA for all users'"


def test_a_tenant_without_registration_details_has_no_row():
    snapshot = good_snapshot()
    del client(snapshot)["userRegistrationDetails"]
    assert CLIENT_ID not in rows_of(snapshot)


def test_the_days_coverage_is_stored_and_read_back_with_its_trend(engine):
    def row(tenant: str, members: int, capable: int) -> TenantMfa:
        return TenantMfa(tenant, members, capable, capable, 2, 1, NONE, "no policy", {"fido2": capable})

    today = date(2026, 11, 22)
    with write_transaction(engine) as conn:
        store_mfa_coverage(conn, today - timedelta(days=1), [row("a", 10, 5), row("b", 10, 7)])
        store_mfa_coverage(conn, today, [row("a", 10, 6)])
        store_mfa_coverage(conn, today, [row("a", 10, 8), row("b", 10, 9)])  # the day's last evaluation wins
    with engine.connect() as conn:
        day, latest = mfa_coverage_latest(conn)
        assert day == today
        assert {(r.tenant_id, r.mfa_capable) for r in latest} == {("a", 8), ("b", 9)}
        assert mfa_trend(conn, today - timedelta(days=7)) == [
            (today - timedelta(days=1), 20, 12),
            (today, 20, 17),
        ]
        assert mfa_trend(conn, today - timedelta(days=7), ["b"]) == [
            (today - timedelta(days=1), 10, 7),
            (today, 10, 9),
        ]


def test_each_posture_evaluation_records_the_days_mfa_coverage(demo_database, tmp_path_factory):
    from support import FIXED_NOW, collect_demo

    _url, engine = collect_demo(demo_database, tmp_path_factory, "mfa")
    with engine.connect() as conn:
        day, rows = mfa_coverage_latest(conn)
    # One row per tenant whose registration details were read: not the demo's tenants without Entra
    # ID P1 (403: not licensed) nor the one where Perimeter's app is not consented
    from simulator import demo

    readable = 1 + sum(c.premium and demo.consented(c.tenant_id) for c in demo.client_tenants())
    assert day == FIXED_NOW.date() and len(rows) == readable == 23
    assert all(0 <= r.mfa_capable <= r.enabled_members for r in rows)
    assert {r.enforcement for r in rows} >= {SECURITY_DEFAULTS, CONDITIONAL_ACCESS}
