"""What a fix reads its target from and writes through, for one engine operation.

Graph goes through :class:`connectors.graph.TenantGraph` (the one client factory: msgraph-sdk's
adapter and middleware, the shared pacing), CIPP through :class:`connectors.cipp.CippClient`.
Facts Graph cannot tell (a client tenant's access mode, its direct-mode service account) come from
the collected data, else from CIPP's tenant list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.cipp import CippClient
from connectors.graph import GraphError, TenantGraph
from connectors.pacing import Pacer
from connectors.sources import CIPP_TENANTS, TENANT_SOURCES
from db.models import Tenant
from db.queries import graph_objects
from fixes.model import BadInput, HttpCall
from graphjson.times import utcnow
from graphjson.values import lower, text
from posture.view import SnapshotView
from settings import Settings, posture_options

POLICIES = "identity/conditionalAccess/policies"
NAMED_LOCATIONS = "identity/conditionalAccess/namedLocations"
_SOURCES = {source.name: source for source in TENANT_SOURCES}


@dataclass(frozen=True)
class ClientTenantFacts:
    """How Perimeter reaches a client tenant (D-1 needs it)."""

    name: str
    access_mode: str  # 'gdap' | 'direct'
    service_account_upn: str  # the direct-mode account (SPEC: directTenantUserPrincipalName, else ours)


class FixContext:
    """Reads and writes for one operation; open with ``async with``."""

    def __init__(
        self, settings: Settings, db: Engine, pacer: Pacer, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.db = db
        self.pacer = pacer
        self.clock = clock  # naive UTC: the evidence window of a switch-on (fixes.guards)
        self._graphs: dict[str, TenantGraph] = {}
        self._cipp: CippClient | None = None
        self._msp_views: dict[bool, SnapshotView] = {}

    async def __aenter__(self) -> FixContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for graph in self._graphs.values():
            await graph.__aexit__()
        if self._cipp is not None:
            await self._cipp.__aexit__()

    @property
    def msp_tenant_id(self) -> str:
        return self.settings.msp_tenant_id

    # --- Graph ------------------------------------------------------------------------------------

    def graph(self, tenant_id: str) -> TenantGraph:
        if tenant_id not in self._graphs:
            self._graphs[tenant_id] = TenantGraph(self.settings, tenant_id, self.pacer)
        return self._graphs[tenant_id]

    def graph_call(self, tenant_id: str, method: str, path: str, body: Any = None) -> HttpCall:
        return HttpCall("graph", method, self.graph(tenant_id).url(path), body)

    async def get(self, tenant_id: str, path: str) -> dict[str, Any] | None:
        """One object (v1.0), or None when Graph says it does not exist."""
        graph = self.graph(tenant_id)
        try:
            document = await graph.get_json(graph.url(path))
        except GraphError as error:
            if error.status == 404:
                return None
            raise
        if not isinstance(document, dict):
            raise GraphError(f"unexpected answer from {path}: not an object")
        document.pop("@odata.context", None)
        return document

    async def all(self, tenant_id: str, path: str, params: dict[str, str] | None = None) -> list[Any]:
        return await self.graph(tenant_id).all(path, params)

    async def policy(self, tenant_id: str, policy_id: str) -> dict[str, Any] | None:
        return await self.get(tenant_id, f"{POLICIES}/{policy_id}")

    async def named_location(self, tenant_id: str, location_id: str) -> dict[str, Any] | None:
        return await self.get(tenant_id, f"{NAMED_LOCATIONS}/{location_id}")

    async def user(self, tenant_id: str, upn: str) -> dict[str, Any] | None:
        return await self.get(tenant_id, f"users/{quote(upn, safe='@')}")  # guest UPNs hold '#

    async def msp_view(self, with_policies: bool = False) -> SnapshotView:
        """The MSP tenant read fresh (users, nested groups, roles, named locations and optionally
        policies) as the posture engine sees a snapshot, so guards use the checks' own rules. Read once
        per operation: a view with policies also serves a request without them."""
        cached = self._msp_views.get(True) or (None if with_policies else self._msp_views.get(False))
        if cached is not None:
            return cached
        msp = self.msp_tenant_id
        earlier = self._msp_views.get(False)
        if earlier is not None:  # only the policies are missing
            tenant = dict(earlier.raw["tenants"][0])
        else:
            tenant = {"tenantId": msp, "role": "msp"}
            for name in ("users", "groups", "directoryRoles"):
                tenant[name] = await self.graph(msp).collection(_SOURCES[name])
            tenant["namedLocations"] = await self.all(msp, NAMED_LOCATIONS)
        settings = self.settings
        snapshot: dict[str, Any] = {
            "version": 1,
            "tenants": [tenant],
            "msp": {
                "tenantId": msp,
                "serviceAccountUpn": settings.service_account_upn,
                "breakGlassUpns": list(settings.break_glass_upns),
                "trustedLocationNames": list(settings.trusted_location_names),
                "cippAppIds": list(settings.cipp_signin_app_ids),
            },
        }
        if with_policies:
            tenant["conditionalAccessPolicies"] = await self.all(msp, POLICIES)
            if settings.cipp_configured:  # the CIPP-API client ids are never "the CIPP app"
                snapshot["cipp"] = {
                    "apiClients": await self.api_clients(),
                    "azureConfiguration": await self.azure_configuration(),
                }
        view = self._msp_views[with_policies] = SnapshotView(snapshot, posture_options(settings))
        return view

    # --- CIPP -------------------------------------------------------------------------------------

    def cipp(self) -> CippClient:
        if not self.settings.cipp_configured:
            raise BadInput("the CIPP-API is not configured (PERIMETER_CIPP_API_URL)")
        if self._cipp is None:
            self._cipp = CippClient(self.settings, self.pacer)
        return self._cipp

    def cipp_call(self, action: str, body: Any) -> HttpCall:
        url = f"{self.cipp().base}/api/ExecApiClient?Action={action}"
        return HttpCall("cipp", "POST", url, body, action)

    async def api_clients(self) -> list[dict[str, Any]]:
        """CIPP's API clients (its stray non-object entries skipped)."""
        return [c for c in await self.cipp().api_clients() if isinstance(c, dict)]

    async def azure_configuration(self) -> dict[str, Any]:
        return await self.cipp().azure_configuration()

    # --- writes -----------------------------------------------------------------------------------

    async def send(self, tenant_id: str, call: HttpCall) -> tuple[int, Any]:
        if call.service == "graph":
            return await self.graph(tenant_id).send_json(call.method, call.url, call.body)
        if call.action == "AddUpdate":
            return await self.cipp().add_update_client(call.body)
        if call.action == "SaveToAzure":
            return await self.cipp().save_to_azure()
        raise ValueError(f"unknown CIPP action {call.action!r}")

    # --- collected facts --------------------------------------------------------------------------

    async def client_tenant(self, tenant_id: str) -> ClientTenantFacts:
        """Access mode and direct-mode service account of a client tenant: from the collected data,
        else from CIPP's tenant list."""
        if lower(tenant_id) == lower(self.msp_tenant_id):
            raise BadInput("this fix is for client tenants; the MSP tenant has its own fixes")
        stored, row = self._stored_tenant(tenant_id)
        if row is None and self.settings.cipp_configured:
            rows = await self.cipp().tenants()
            row = next(
                (r for r in rows if isinstance(r, dict) and lower(r.get("customerId")) == lower(tenant_id)),
                None,
            )
        if stored is None and row is None:
            raise BadInput(f"tenant {tenant_id} is not a known client tenant: check the id, or collect first")
        row = row or {}
        mode = (
            stored.access_mode
            if stored is not None and stored.access_mode
            else ("direct" if lower(row.get("delegatedPrivilegeStatus")) == "directtenant" else "gdap")
        )
        name = stored.display_name if stored is not None else text(row.get("displayName"), tenant_id)
        upn = text(row.get("directTenantUserPrincipalName"), self.settings.service_account_upn)
        return ClientTenantFacts(name, mode, upn)

    def _stored_tenant(self, tenant_id: str) -> tuple[Tenant | None, dict[str, Any] | None]:
        with self.db.connect() as conn:
            with Session(conn) as session:
                tenant = session.scalars(select(Tenant).where(Tenant.tenant_id == tenant_id)).first()
                if tenant is not None:
                    session.expunge(tenant)
            rows = graph_objects(conn, self.msp_tenant_id, CIPP_TENANTS)
        row = next(
            (r for r in rows if isinstance(r, dict) and lower(r.get("customerId")) == lower(tenant_id)), None
        )
        return tenant, row
