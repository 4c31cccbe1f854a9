"""Catalogue v2's shared rules: who a policy reaches, full coverage, requires MFA (posture.graph / view)."""

from __future__ import annotations

import copy

from posture_fixtures import (
    BG_GROUP_ID,
    BG_ID,
    EA_ID,
    GLOBAL_ADMIN,
    SA_ID,
    STAFF_ID,
    TECH_ID,
    TECHS_GROUP_ID,
    USER_ADMIN,
    good_snapshot,
    msp,
    policy,
)

from posture import PostureOptions
from posture.graph import mfa_requirement, narrowings, requires_mfa
from posture.view import SnapshotView

P = "77777777-0000-4000-8000-000000000001"


def _msp_view(snapshot: dict | None = None):
    view = SnapshotView(copy.deepcopy(snapshot or good_snapshot()), PostureOptions())
    assert view.msp_tenant is not None
    return view.msp_tenant


# --- who a policy reaches ------------------------------------------------------------------------


def test_reach_includes_through_all_and_directly():
    tenant = _msp_view()
    everyone = policy(P, "p", users={"includeUsers": ["All"]})
    assert tenant.reach(everyone, STAFF_ID).reaches is True
    assert tenant.reach(everyone, STAFF_ID).included == "included through 'All'"
    direct = policy(P, "p", users={"includeUsers": [SA_ID]})
    assert tenant.reach(direct, SA_ID).included == "included directly"
    assert tenant.reach(direct, STAFF_ID).reaches is False


def test_reach_follows_groups_transitively_and_roles_both_ways():
    tenant = _msp_view()
    by_group = policy(P, "p", users={"includeGroups": [BG_GROUP_ID]})
    reach = tenant.reach(by_group, EA_ID)
    assert reach.reaches is True
    assert reach.included == (
        "included through group 'CA Exclusions - Break Glass' → 'Emergency Access Accounts'"
    )
    by_role = policy(P, "p", users={"includeRoles": [USER_ADMIN]})
    assert tenant.reach(by_role, TECH_ID).included == "included through role User Administrator"
    assert tenant.reach(by_role, STAFF_ID).reaches is False
    excluded = policy(
        P,
        "p",
        users={"includeUsers": ["All"], "excludeGroups": [BG_GROUP_ID], "excludeRoles": [GLOBAL_ADMIN]},
    )
    assert tenant.reach(excluded, EA_ID).reaches is False
    assert tenant.reach(excluded, EA_ID).excluded.startswith("excluded through group 'CA Exclusions")
    assert tenant.reach(excluded, BG_ID).excluded == "excluded through role Global Administrator"


def test_reach_exclusion_wins_over_inclusion():
    tenant = _msp_view()
    both = policy(P, "p", users={"includeUsers": [SA_ID], "excludeUsers": [SA_ID]})
    reach = tenant.reach(both, SA_ID)
    assert reach.reaches is False and reach.excluded == "excluded directly"


def test_reach_a_member_is_never_reached_through_guests_or_external_users():
    tenant = _msp_view()
    types = {
        "guestOrExternalUserTypes": "b2bCollaborationGuest",
        "externalTenants": {"membershipKind": "all"},
    }
    guests = policy(
        P, "p", users={"includeUsers": ["GuestsOrExternalUsers"], "includeGuestsOrExternalUsers": types}
    )
    assert tenant.reach(guests, STAFF_ID).reaches is False
    # ... nor excluded through it
    everyone = policy(P, "p", users={"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]})
    assert tenant.reach(everyone, STAFF_ID).reaches is True


def test_reach_is_undecided_without_membership_or_with_a_field_of_the_wrong_type():
    snapshot = good_snapshot()
    for group in msp(snapshot)["groups"]:
        del group["members"]
    tenant = _msp_view(snapshot)
    by_group = policy(P, "p", users={"includeUsers": ["All"], "excludeGroups": [TECHS_GROUP_ID]})
    assert tenant.reach(by_group, TECH_ID).reaches is None
    tenant = _msp_view()
    wrong = policy(P, "p", users={"includeUsers": "All"})
    reach = tenant.reach(wrong, STAFF_ID)
    assert reach.reaches is None and "unreadable includeUsers" in reach.words


# --- full coverage -------------------------------------------------------------------------------


def test_full_coverage_of_a_plain_policy():
    assert narrowings(policy(P, "p", users={"includeUsers": ["All"]}, grant=["mfa"])) == []
    four = policy(P, "p")
    four["conditions"]["clientAppTypes"] = [
        "browser",
        "mobileAppsAndDesktopClients",
        "exchangeActiveSync",
        "other",
    ]
    four["conditions"]["platforms"] = {"includePlatforms": ["all"], "excludePlatforms": []}
    assert narrowings(four) == []


def test_every_narrowing_is_named():
    p = policy(P, "p", apps=["00000003-0000-0ff1-ce00-000000000000"])
    c = p["conditions"]
    c["applications"]["excludeApplications"] = ["abc"]
    c["applications"]["applicationFilter"] = {"mode": "exclude", "rule": 'app.x -eq "y"'}
    c["clientAppTypes"] = ["browser"]
    c["platforms"] = {"includePlatforms": ["all"], "excludePlatforms": ["iOS"]}
    c["signInRiskLevels"] = ["high"]
    c["devices"] = {"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}}
    c["authenticationFlows"] = {"transferMethods": "deviceCodeFlow"}
    c["clientApplications"] = {"includeServicePrincipals": ["x"]}
    words = " | ".join(narrowings(p))
    for expected in (
        "only application(s) 00000003",
        "excludes application(s) abc",
        "application filter",
        "client apps only browser",
        "excludes platform(s) iOS",
        "signInRiskLevels high",
        "device filter 'device.isCompliant -eq True'",
        "authentication flows deviceCodeFlow",
        "client applications",
    ):
        assert expected in words
    assert narrowings(policy(P, "p", apps=["cipp-app"]), {"cipp-app"}) == []


def test_full_coverage_none_app_and_unreadable_fields_narrow():
    none = policy(P, "p", apps=["None"])
    assert narrowings(none) == ["it includes no application (None)"]
    wrong = policy(P, "p")
    wrong["conditions"]["clientAppTypes"] = "all"
    assert narrowings(wrong) == ["unreadable clientAppTypes"]


# --- requires MFA --------------------------------------------------------------------------------


def _grant(
    controls: list[str], operator: str = "OR", strength: dict | None = None, custom: list | None = None
):
    p = policy(P, "p", grant=controls)
    p["grantControls"].update(
        operator=operator, authenticationStrength=strength, customAuthenticationFactors=custom or []
    )
    return p


def test_requires_mfa_by_the_rule():
    assert requires_mfa(_grant(["mfa"]))
    assert requires_mfa(_grant(["mfa", "compliantDevice"], "AND"))
    assert requires_mfa(_grant([], strength={"id": "00000000-0000-0000-0000-000000000004"}))
    assert requires_mfa(
        _grant(["compliantDevice"], "AND", strength={"id": "custom", "requirementsSatisfied": "mfa"})
    )


def test_does_not_require_mfa():
    ok, why = mfa_requirement(_grant(["mfa", "compliantDevice"], "OR"))
    assert not ok and "compliantDevice" in why
    assert not requires_mfa(_grant(["block"]))
    assert not requires_mfa(_grant(["compliantDevice"], "AND"))
    assert not requires_mfa(_grant([], strength={"id": "custom-strength"}))
    assert not requires_mfa(
        _grant([], strength={"id": "00000000-0000-0000-0000-000000000002", "requirementsSatisfied": "none"})
    )
    ok, why = mfa_requirement(_grant(["mfa"], custom=["Duo-MFA"]))
    assert not ok and "not Microsoft MFA" in why
    wrong = _grant([])
    wrong["grantControls"]["builtInControls"] = "mfa"
    assert mfa_requirement(wrong) == (False, "unreadable grantControls.builtInControls")
