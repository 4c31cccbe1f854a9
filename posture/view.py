"""Read-only views over a validated snapshot: the lookups checks share (users, groups, locations, window).

Everything is computed lazily and cached per evaluation; nothing here changes the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar, cast

from graphjson.times import read_graph_datetime
from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.findings import Subject
from posture.graph import ALL, TEMPLATE_ID_PREFIX, TEMPLATE_SUBJECT_KEY
from posture.options import PostureOptions

T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    """A user object found in a tenant's `users`."""

    id: str
    upn: str
    name: str
    enabled: bool

    @classmethod
    def of(cls, user: dict[str, Any]) -> Account:
        upn = text(user.get("userPrincipalName"))
        return cls(
            id=text(user.get("id")),
            upn=upn,
            name=text(user.get("displayName"), upn),
            enabled=user.get("accountEnabled") is not False,
        )

    @property
    def label(self) -> str:
        return self.upn or self.name or self.id

    def as_evidence(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.name,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class Reach:
    """Whether a policy reaches a user, and the path (for evidence)."""

    included: str | None  # "included through group 'A' → 'B'", or None
    excluded: str | None  # "excluded through role Global Administrator", or None
    unknown_include: list[str]  # what could not be decided about inclusion
    unknown_exclude: list[str]  # ... and about exclusion

    @property
    def reaches(self) -> bool | None:
        """True or False, or None when the snapshot cannot tell."""
        if self.excluded:
            return False
        if self.included:
            return None if self.unknown_exclude else True
        return None if self.unknown_include else False

    @property
    def words(self) -> str:
        if self.excluded:
            return self.excluded
        if self.included:
            return self.included + (f" ({'; '.join(self.unknown_exclude)})" if self.unknown_exclude else "")
        return "; ".join(self.unknown_include) or "not included"


# sourceStatus states that stand instead of data (the collectors write them; SPEC "Snapshot v1 additions").
NOT_LICENSED = "not-licensed"
CONSENT_NEEDED = "consent-needed"


class TenantView:
    def __init__(self, raw: dict[str, Any], snapshot: SnapshotView):
        self.raw = raw
        self.snapshot = snapshot
        self.id: str = raw["tenantId"]
        self.name: str = text(raw.get("displayName"), text(raw.get("defaultDomainName"), self.id))

    @property
    def subject(self) -> Subject:
        return Subject("tenant", self.id, self.name)

    @property
    def is_msp(self) -> bool:
        role = lower(self.raw.get("role"))
        if role:
            return role == "msp"
        return bool(self.snapshot.msp_tenant_id) and lower(self.id) == lower(self.snapshot.msp_tenant_id)

    def objects(self, key: str) -> list[dict[str, Any]] | None:
        """A Graph collection, or None when it was not collected (missing or null)."""
        if key == "conditionalAccessPolicies":
            return self._policies
        value = self.raw.get(key)
        return value if isinstance(value, list) else None

    def not_collected(self, source: str, words: str) -> str:
        """Why the source (a snapshot key, e.g. ``signIns``) is missing, for an n/a finding: the tenant's
        standing state from ``sourceStatus`` (SPEC "Snapshot v1 additions") when it has one."""
        state = lower(as_dict(as_dict(self.raw.get("sourceStatus")).get(source)).get("state"))
        if state == NOT_LICENSED:
            return (
                f"not licensed: the tenant has no Entra ID P1 or P2, so Graph does not serve its {words} "
                "(not an error)"
            )
        if state == CONSENT_NEEDED:
            return (
                f"consent needed: Perimeter's app is not consented in the tenant, so its {words} could "
                "not be read"
            )
        return f"{words} were not collected"

    @cached_property
    def _policies(self) -> list[dict[str, Any]] | None:
        """The tenant's policies; one without an `id` (a template) is a copy carrying a subject id made
        from its display name and position (``graph.policy_id`` reads it; it never gets a fix)."""
        value = self.raw.get("conditionalAccessPolicies")
        if not isinstance(value, list):
            return None
        out = []
        for position, policy in enumerate(value, start=1):
            if isinstance(policy, dict) and not text(policy.get("id")):
                name = text(policy.get("displayName"), "(unnamed policy)")
                policy = {**policy, TEMPLATE_SUBJECT_KEY: f"{TEMPLATE_ID_PREFIX}{position}: {name}"}
            out.append(policy)
        return out

    # --- users, groups, roles ---------------------------------------------------------------------

    @cached_property
    def users_by_id(self) -> dict[str, dict[str, Any]]:
        return {lower(u.get("id")): u for u in self.objects("users") or [] if u.get("id")}

    @cached_property
    def users_by_upn(self) -> dict[str, dict[str, Any]]:
        return {
            lower(u.get("userPrincipalName")): u
            for u in self.objects("users") or []
            if u.get("userPrincipalName")
        }

    def account(self, upn: str) -> Account | None:
        user = self.users_by_upn.get(lower(upn))
        return Account.of(user) if user is not None else None

    def user_label(self, user_id: str) -> str:
        user = self.users_by_id.get(lower(user_id))
        return Account.of(user).label if user is not None else user_id

    @cached_property
    def groups_by_id(self) -> dict[str, dict[str, Any]]:
        return {lower(g.get("id")): g for g in self.objects("groups") or [] if g.get("id")}

    def group_name(self, group_id: str) -> str:
        return text(self.groups_by_id.get(lower(group_id), {}).get("displayName"), group_id)

    @cached_property
    def groups_expanded(self) -> bool:
        """Groups were collected with `$expand=members` (else membership is unknown)."""
        groups = self.objects("groups")
        return groups is not None and all(isinstance(g.get("members"), list) for g in groups)

    def group_path(self, object_id: str, group_id: str) -> list[str] | None:
        """Group names from ``group_id`` down to a group that directly holds ``object_id`` (nested
        membership followed, cycles ignored), or None when it is not a member."""
        target = lower(object_id)
        seen: set[str] = set()

        def walk(gid: str) -> list[str] | None:
            if gid in seen:
                return None
            seen.add(gid)
            group = self.groups_by_id.get(gid)
            if group is None:
                return None
            members = [as_dict(m) for m in as_list(group.get("members"))]
            if any(lower(m.get("id")) == target for m in members):
                return [self.group_name(gid)]
            for member in members:
                # Members may be users or groups; only groups are followed (by @odata.type, or by id).
                mid = lower(member.get("id"))
                odata = lower(member.get("@odata.type"))
                if mid in self.groups_by_id and (not odata or odata.endswith(".group")):
                    path = walk(mid)
                    if path is not None:
                        return [self.group_name(gid), *path]
            return None

        return walk(lower(group_id))

    def role_template_ids_of(self, object_id: str) -> set[str] | None:
        """Role template ids held by ``object_id``, or None when directory roles were not collected."""
        roles = self.objects("directoryRoles")
        if roles is None:
            return None
        target = lower(object_id)
        return {
            lower(r.get("roleTemplateId"))
            for r in roles
            if any(lower(as_dict(m).get("id")) == target for m in as_list(r.get("members")))
        }

    def reach(self, policy: dict[str, Any], object_id: str) -> Reach:
        """Who a policy reaches (catalogue v2), for a member user of this tenant.

        Included by `includeUsers` (`All` or the id), an included group (members followed
        transitively) or an included role the user holds; excluded the same three ways. Exclusion wins.
        A member user is never reached through `GuestsOrExternalUsers` / the guest conditions. A list of
        the wrong type, or membership that was not collected, leaves the answer undecided.
        """
        users = policy.get("conditions")
        users = users.get("users") if isinstance(users, dict) else None
        if not isinstance(users, dict):
            return Reach(None, None, ["unreadable conditions.users"], [])
        included, unknown_in = self._route(users, "include", object_id)
        excluded, unknown_out = self._route(users, "exclude", object_id)
        return Reach(included, excluded, unknown_in, unknown_out)

    def _route(self, users: dict[str, Any], side: str, object_id: str) -> tuple[str | None, list[str]]:
        """How ``object_id`` is in the `<side>Users/Groups/Roles` lists, and what could not be decided."""
        verb = "included" if side == "include" else "excluded"
        unknown: list[str] = []
        raw_users = users.get(f"{side}Users")
        if raw_users is not None and not isinstance(raw_users, list):
            unknown.append(f"unreadable {side}Users")
        ids = lower_set(raw_users)
        if lower(object_id) in ids:
            return f"{verb} directly", []
        if side == "include" and ALL in ids:
            return f"{verb} through 'All'", []
        raw_groups = users.get(f"{side}Groups")
        if raw_groups is not None and not isinstance(raw_groups, list):
            unknown.append(f"unreadable {side}Groups")
        groups = [str(g) for g in as_list(raw_groups) if isinstance(g, str)]
        if groups and not self.groups_expanded:
            unknown.append(f"the members of {side}d groups were not collected")
        for group_id in groups:
            path = self.group_path(object_id, group_id)
            if path:
                return f"{verb} through group " + " → ".join(f"'{name}'" for name in path), []
        raw_roles = users.get(f"{side}Roles")
        if raw_roles is not None and not isinstance(raw_roles, list):
            unknown.append(f"unreadable {side}Roles")
        roles = lower_set(raw_roles)
        if roles:
            held = self.role_template_ids_of(object_id)
            if held is None:
                unknown.append("directory roles were not collected")
            elif held & roles:
                return f"{verb} through role {self.role_name(sorted(held & roles)[0])}", []
        return None, unknown

    def role_name(self, template_id: str) -> str:
        for role in self.objects("directoryRoles") or []:
            if lower(role.get("roleTemplateId")) == lower(template_id):
                return text(role.get("displayName"), template_id)
        return template_id

    # --- named locations ----------------------------------------------------------------------

    @cached_property
    def locations_by_id(self) -> dict[str, dict[str, Any]]:
        return {lower(n.get("id")): n for n in self.objects("namedLocations") or [] if n.get("id")}

    def location_label(self, location_id: str) -> str:
        """A location as a person reads it: its quoted name, or what All and AllTrusted mean."""
        key = lower(location_id)
        if key == "alltrusted":
            return "AllTrusted (every trusted location)"
        if key == ALL:
            return "All (any location)"
        return f"'{text(self.locations_by_id.get(key, {}).get('displayName'), location_id)}'"

    def trusted_locations(self) -> list[dict[str, Any]] | None:
        """The trusted IP named locations that count as "the trusted location" (None: not collected).

        With msp.trustedLocationNames set, only those names count; empty means every trusted IP location.
        """
        locations = self.objects("namedLocations")
        if locations is None:
            return None
        trusted = [n for n in locations if is_ip_location(n) and n.get("isTrusted") is True]
        names = self.snapshot.trusted_location_names
        if names:
            trusted = [n for n in trusted if lower(n.get("displayName")) in names]
        return trusted

    # --- sign-ins -----------------------------------------------------------------------------

    def signins_in_window(self) -> list[dict[str, Any]] | None:
        signins = self.objects("signIns")
        if signins is None:
            return None
        start, end = self.snapshot.window
        if start is None or end is None:  # both or neither: no collectedAt
            return signins
        out = []
        for signin in signins:
            at = read_graph_datetime(signin.get("createdDateTime"))
            if at is not None and start <= at <= end:
                out.append(signin)
        return out

    # --- client tenants -----------------------------------------------------------------------

    @cached_property
    def cipp_row(self) -> dict[str, Any]:
        """This tenant's row of CIPP's ListTenants (empty when none)."""
        for row in self.snapshot.cipp_objects("tenants") or []:
            if lower(row.get("customerId")) == lower(self.id):
                return row
        return {}

    @property
    def access_mode(self) -> str:
        """'gdap' or 'direct': the tenant's accessMode, else CIPP's delegatedPrivilegeStatus, else GDAP."""
        mode = lower(self.raw.get("accessMode"))
        if mode:
            return mode
        return "direct" if lower(self.cipp_row.get("delegatedPrivilegeStatus")) == "directtenant" else "gdap"

    @property
    def direct_service_account_upn(self) -> str:
        return text(self.cipp_row.get("directTenantUserPrincipalName"), self.snapshot.service_account_upn)


def is_ip_location(location: dict[str, Any]) -> bool:
    odata = lower(location.get("@odata.type"))
    return odata.endswith("ipnamedlocation") if odata else isinstance(location.get("ipRanges"), list)


def location_ranges(location: dict[str, Any]) -> list[str]:
    return [text(as_dict(r).get("cidrAddress")) for r in as_list(location.get("ipRanges"))]


@dataclass(frozen=True)
class BreakGlass:
    """The break-glass accounts of the MSP tenant: configured by UPN, or detected by name."""

    configured: bool
    accounts: list[Account]  # those that exist in the MSP's users
    missing_upns: list[str]  # configured but not found


class SnapshotView:
    def __init__(self, snapshot: dict[str, Any], options: PostureOptions):
        self.raw = snapshot
        self.options = options
        self.msp_section: dict[str, Any] = as_dict(snapshot.get("msp"))
        self._memo: dict[str, object] = {}
        self.tenants = [TenantView(t, self) for t in as_list(snapshot.get("tenants"))]

    def __enter__(self) -> SnapshotView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Drop the tenant views and every lookup; the view is unusable afterwards. The tenant views
        point back to this one, so without this the snapshot (500 tenants: ~500,000 objects) lives
        on until the cycle collector walks it; with it, it is freed as soon as its owner lets go."""
        for tenant in self.__dict__.get("tenants", ()):
            tenant.__dict__.clear()
        self.__dict__.clear()

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Share one computation between checks (e.g. A-1's qualifying policies for A-2 and A-3)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    @cached_property
    def msp_tenant(self) -> TenantView | None:
        return next((t for t in self.tenants if t.is_msp), None)

    @cached_property
    def msp_tenant_id(self) -> str:
        configured = text(self.msp_section.get("tenantId"))
        if configured:
            return configured
        role_msp = next((t for t in self.tenants if lower(t.raw.get("role")) == "msp"), None)
        return role_msp.id if role_msp else ""

    @property
    def msp_subject(self) -> Subject:
        if self.msp_tenant is not None:
            return self.msp_tenant.subject
        return Subject("tenant", self.msp_tenant_id, "MSP tenant")

    @property
    def client_tenants(self) -> list[TenantView]:
        return [t for t in self.tenants if not t.is_msp]

    @cached_property
    def _tenant_positions(self) -> dict[str, int]:
        positions = {lower(t.id): i + 1 for i, t in enumerate(self.client_tenants)}
        for msp_id in (self.msp_tenant_id, self.msp_tenant.id if self.msp_tenant else ""):
            if msp_id:
                positions[lower(msp_id)] = 0
        return positions

    def tenant_order(self, tenant_id: str) -> int:
        """MSP first, then the snapshot's order."""
        return self._tenant_positions.get(lower(tenant_id), len(self._tenant_positions) + 1)

    @cached_property
    def api_client_ids(self) -> set[str]:
        """The CIPP-API clients' ids (ApiClients and the Azure configuration): never "the CIPP app"."""
        ids = {lower(c.get("ClientId")) for c in self.cipp_objects("apiClients") or [] if c.get("ClientId")}
        azure = as_dict(as_dict(self.raw.get("cipp")).get("azureConfiguration"))
        return ids | lower_set(azure.get("ClientIDs"))

    @cached_property
    def cipp_app_ids(self) -> set[str]:
        """The app technicians sign in to (CIPP's Static Web App registration): `msp.cippAppIds` and the
        option, never a CIPP-API client id (A-1, v2)."""
        configured = {lower(a) for a in self.options.cipp_app_ids}
        configured |= lower_set(self.msp_section.get("cippAppIds"))
        return configured - self.api_client_ids

    @property
    def service_account_upn(self) -> str:
        return text(self.msp_section.get("serviceAccountUpn"))

    @cached_property
    def trusted_location_names(self) -> set[str]:
        return lower_set(self.msp_section.get("trustedLocationNames"))

    @cached_property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """The sign-in window (start, end); (None, None) without collectedAt: then every sign-in counts."""
        end = read_graph_datetime(self.raw.get("collectedAt"))
        if end is None:
            return None, None
        return end - timedelta(hours=self.options.signin_window_hours), end

    def window_evidence(self) -> dict[str, Any]:
        start, end = self.window
        if end is None or start is None:
            return {"window": "all sign-ins in the snapshot (it has no collectedAt)"}
        return {
            "windowStart": start.isoformat().replace("+00:00", "Z"),
            "windowEnd": end.isoformat().replace("+00:00", "Z"),
        }

    def cipp_objects(self, key: str) -> list[dict[str, Any]] | None:
        """cipp.apiClients / cipp.tenants with non-object elements (CIPP's stray "Any") skipped."""
        value = as_dict(self.raw.get("cipp")).get(key)
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else None

    @cached_property
    def break_glass(self) -> BreakGlass | None:
        """None when the MSP tenant's users were not collected."""
        msp = self.msp_tenant
        if msp is None or msp.objects("users") is None:
            return None
        configured = [u for u in as_list(self.msp_section.get("breakGlassUpns")) if isinstance(u, str) and u]
        if configured:
            accounts = [a for a in (msp.account(upn) for upn in configured) if a is not None]
            missing = [upn for upn in configured if msp.account(upn) is None]
            return BreakGlass(True, accounts, missing)
        pattern = re.compile(self.options.break_glass_pattern, re.IGNORECASE)
        detected = [
            Account.of(u)
            for u in msp.objects("users") or []
            if pattern.search(text(u.get("userPrincipalName"))) or pattern.search(text(u.get("displayName")))
        ]
        return BreakGlass(False, detected, [])
