"""One collection cycle: discover tenants, then collect every source of every tenant with bounded
concurrency. One tenant's or source's failure is recorded and never stops the others."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, select

from collectors.evaluate import evaluate_and_store
from collectors.states import CONSENT_NEEDED, LICENCE_BOUND, classify, due
from connectors.cipp import CippClient
from connectors.graph import GraphError, TenantGraph
from connectors.pacing import Pacer, family_of
from connectors.sources import (
    CIPP_API_CLIENTS,
    CIPP_AZURE_CONFIGURATION,
    CIPP_TENANTS,
    CIPP_WHAT_IF,
    DIRECTORY_AUDIT_CATEGORY_FILTER,
    DIRECTORY_AUDITS,
    DIRECTORY_AUDITS_PATH,
    POSTURE,
    SIGNIN_EVENT_FILTER,
    SIGNINS,
    TENANT_SOURCES,
    TENANTS,
    GraphSource,
    needed_from,
)
from connectors.whatif import LockoutIdentity, find_user_id, lockout_error, predict_lockout
from db import write_transaction
from db.history import attach_changes, store_directory_audits
from db.models import CollectionState
from db.partitions import analyze_signins, drop_partitions_before, ensure_partitions_now, settle_ended_days
from db.queries import active_tenants, graph_objects
from db.signin_index import policy_outcome_tenants, purge_outcomes_before
from db.signin_pipeline import PageResult, SigninPipeline
from db.store import (
    mark_missing_tenants_inactive,
    oldest_signin_at,
    purge_runs_and_dictionaries,
    purge_signins_before,
    record_run,
    replace_objects,
    signin_tenant_ids,
    signin_watermark,
    source_watermark,
    upsert_tenant,
)
from graphjson.times import graph_datetime, utcnow
from safetext.secrets import redact
from settings import Settings

log = logging.getLogger("perimeter.collectors")

Clock = Callable[[], datetime]
T = TypeVar("T")
Page = TypeVar("Page")  # what an incremental source hands its store: a page, or its stored result

# Graph's audit entries can arrive well after the change they record: versions of the last day not yet
# linked to who made them are matched again after every full cycle (db.history.attach_changes).
ATTACH_LOOKBACK = timedelta(days=1)
# Sign-ins deleted per retention transaction (see purge): 10 M sign-ins kept, an hour's ~19,000 held the
# write lock 0.5-2.8 s; a quarter of an hour holds it well under a second.
PURGE_SLICE = timedelta(minutes=15)
# Between two of retention's write transactions: SQLite's waiting writers poll (sleeping up to 100 ms), so
# back-to-back transactions kept a collector's page waiting 2.7 s though none held the lock over 0.7 s.
PURGE_PAUSE_SECONDS = 0.05


class DiscoveryError(Exception):
    """Discovery answered something that cannot be the tenant list (collectors.run.Cycle.discover)."""


@dataclass
class TenantRef:
    tenant_id: str
    display_name: str
    default_domain: str
    role: str
    access_mode: str | None
    discovered_from: str


@dataclass
class CycleReport:
    cycle_id: str
    started_at: datetime
    finished_at: datetime | None = None
    tenants: int = 0
    runs_ok: int = 0
    errors: list[str] = field(default_factory=list)
    signins_stored: int = 0
    # Standing states met this cycle ("<tenant> <source>: not-licensed"), not errors (collectors.states)
    states: list[str] = field(default_factory=list)
    skipped: int = 0  # sources not asked: their standing state is re-checked later

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycleId": self.cycle_id,
            "startedAt": self.started_at.isoformat() + "Z",
            "finishedAt": self.finished_at.isoformat() + "Z" if self.finished_at else None,
            "tenants": self.tenants,
            "runsOk": self.runs_ok,
            "errors": self.errors,
            "signInsStored": self.signins_stored,
            "states": self.states,
            "skippedUntilRecheck": self.skipped,
        }


class Cycle:
    def __init__(self, settings: Settings, engine: Engine, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        # SQLite's own WAL checkpoints, in the commits: the sign-in pipeline's parsing processes have
        # the second core (db.engine.checkpoint_in_background's thread there cost ~12 % of the ingest).
        self.clock = clock
        self.pacer = Pacer()
        self.report = CycleReport(cycle_id=uuid.uuid4().hex, started_at=clock())
        # The cycle's database writes run here, one at a time and in order (SQLite has one writer
        # anyway), so a commit never stalls every tenant's requests on the event loop.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perimeter-writer")
        # Sign-in pages go through the pipeline (db.signin_pipeline): prepared in the parsing processes,
        # written by the writer thread, the only thread that touches it.
        self._signins = SigninPipeline(engine)

    # --- the database, off the event loop ---
    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` on the cycle's writer thread and wait for it."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, work, *args)

    async def transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one write transaction on the cycle's writer thread."""

        def run() -> T:
            with write_transaction(self.engine) as conn:
                return work(conn)

        return await self.write(run)

    # --- bookkeeping ---
    def host(self, cipp: bool = False) -> str:
        """The service a source is read from, for its error line (an error naming its own request's
        host wins: a token request goes elsewhere)."""
        url = self.settings.cipp_api_url if cipp else self.settings.graph_base_url
        parts = urlsplit(url)
        return parts.netloc.rpartition("@")[2] or url  # never a user:password@ part

    async def _record(
        self,
        tenant_id: str,
        source: str,
        started: datetime,
        rows: int,
        error: str | None,
        watermark: datetime | None = None,
        state: str | None = None,
    ) -> None:
        if error:  # a service's error text may echo a URL or a credential: never store or log secrets
            error = redact(error, self.settings.secret_values())
        finished = self.clock()
        await self.transact(
            lambda conn: record_run(
                conn,
                cycle_id=self.report.cycle_id,
                tenant_id=tenant_id,
                source=source,
                started_at=started,
                finished_at=finished,
                rows=rows,
                error=error,
                watermark=watermark,
                state=state,
            )
        )
        if state:  # a standing answer (no licence, no consent): shown as such, not an error
            self.report.states.append(f"{tenant_id} {source}: {state}")
            log.info("collect %s %s: %s", tenant_id, source, state)
        elif error:
            self.report.errors.append(f"{tenant_id} {source}: {error}")
            log.warning("collect %s %s failed: %s", tenant_id, source, error)
        else:
            self.report.runs_ok += 1

    # --- tenants ---
    def _msp(self) -> TenantRef:
        domain = self.settings.service_account_upn.partition("@")[2]
        return TenantRef(
            self.settings.msp_tenant_id, self.settings.msp_display_name, domain, "msp", None, "settings"
        )

    async def discover(self, cipp: CippClient | None, msp_graph: TenantGraph) -> list[TenantRef]:
        """Client tenants from CIPP's ListTenants, else from active GDAP relationships.

        A failed discovery (an error, CIPP's error row, no client listed while some are known) is
        recorded as the discovery source's error and changes nothing: every known tenant stays
        active and is collected. Only a successful discovery that no longer lists a tenant
        deactivates it."""
        started = self.clock()
        msp = self._msp()
        try:
            if cipp is not None:
                rows = await cipp.tenants()  # CIPP's error row raises: a failed discovery
                clients = [_client_from_cipp(row) for row in rows if isinstance(row, dict)]
            else:
                relationships = await msp_graph.all(
                    "tenantRelationships/delegatedAdminRelationships", {"$top": "300"}
                )
                clients = _clients_from_gdap(relationships)
            clients = [c for c in clients if c and c.tenant_id != msp.tenant_id]
            known = self._known_clients()
            if not clients and known:  # implausible: a failure, never "every client has left"
                raise DiscoveryError(
                    f"no client tenant listed while {len(known)} are known; every known tenant is kept"
                )
            if cipp is not None:
                now = self.clock()
                count = await self.transact(
                    lambda conn: replace_objects(conn, msp.tenant_id, CIPP_TENANTS, rows, now)
                )
                await self._record(msp.tenant_id, CIPP_TENANTS, started, count, None)
        except Exception as error:  # noqa: BLE001 - recorded; every known tenant stays active
            await self._record(
                msp.tenant_id, TENANTS, started, 0, failure_text(error, self.host(cipp is not None))
            )
            return [msp, *self._known_clients()]
        now = self.clock()

        def store(conn: Connection) -> None:
            for ref in [msp, *clients]:
                upsert_tenant(
                    conn,
                    now,
                    tenant_id=ref.tenant_id,
                    display_name=ref.display_name,
                    default_domain=ref.default_domain,
                    role=ref.role,
                    access_mode=ref.access_mode,
                    discovered_from=ref.discovered_from,
                )
            mark_missing_tenants_inactive(conn, {msp.tenant_id, *(c.tenant_id for c in clients)})

        await self.transact(store)
        await self._record(msp.tenant_id, TENANTS, started, len(clients) + 1, None)
        return [msp, *clients]

    def _known_clients(self) -> list[TenantRef]:
        with self.engine.connect() as conn:
            return [
                TenantRef(
                    t.tenant_id, t.display_name, t.default_domain, t.role, t.access_mode, t.discovered_from
                )
                for t in active_tenants(conn)
                if t.role == "client"
            ]

    # --- sources ---
    async def collect_source(self, graph: TenantGraph, tenant: TenantRef, source: GraphSource) -> str | None:
        """Collect one source; returns the standing state it answered with (or None)."""
        started = self.clock()
        try:
            if source.single:
                document = await graph.get_json(graph.url(source.path, source.params))
                objects = [document] if isinstance(document, dict) else []
                for obj in objects:
                    obj.pop("@odata.context", None)
            else:
                objects = await graph.collection(source)
            now = self.clock()
            count = await self.transact(
                lambda conn: replace_objects(conn, tenant.tenant_id, source.name, objects, now)
            )
        except Exception as error:  # noqa: BLE001 - recorded per tenant and source
            state = classify(error, source.name)
            await self._record(
                tenant.tenant_id, source.name, started, 0, failure_text(error, self.host()), state=state
            )
            return state
        await self._record(tenant.tenant_id, source.name, started, count, None)
        return None

    async def collect_signins(self, graph: TenantGraph, tenant: TenantRef) -> str | None:
        """Sign-ins, incremental by createdDateTime (:meth:`collect_incremental`). Each page's body
        goes to the cycle's sign-in pipeline as it is read (db.signin_pipeline: prepared in a parsing
        process, written in its own transaction on the writer thread, in order) while the next is
        read; every page read is written, or has failed, before this returns, and the first failed
        page fails the source (the watermark stays; the pages written are kept)."""
        with self.engine.connect() as conn:
            watermark = signin_watermark(conn, tenant.tenant_id)

        async def read(since: datetime, store: Callable[[PageResult], None]) -> None:
            params = {
                "$filter": f"createdDateTime ge {graph_datetime(since)} and {SIGNIN_EVENT_FILTER}",
                "$top": "1000",
            }
            loop = asyncio.get_running_loop()
            submitted: list[asyncio.Future[Future[PageResult]]] = []

            def submit(body: bytes) -> None:
                submitted.append(
                    loop.run_in_executor(self._writer, self._signins.submit, tenant.tenant_id, body)
                )

            try:
                await graph.each_signin_page(params, submit)
            finally:
                handles = await asyncio.gather(*submitted, return_exceptions=True)
                await self.write(self._signins.drain)  # this tenant's pages written, not held back
            failed: BaseException | None = None
            for handle in handles:
                error = handle if isinstance(handle, BaseException) else handle.exception()
                if error is None:
                    store(handle.result())  # type: ignore[union-attr]
                elif failed is None:
                    failed = error
            if failed is not None:
                raise failed

        state, stored = await self.collect_incremental(
            tenant, SIGNINS, watermark, self.settings.retention_days, read, lambda result: result
        )
        self.report.signins_stored += stored
        return state

    async def collect_directory_audits(self, graph: TenantGraph, tenant: TenantRef) -> str | None:
        """Directory audit entries of category Policy (who changed a policy or named location, from
        where), incremental by activityDateTime (:meth:`collect_incremental`), kept as long as posture
        history. Paced as the reports family (connectors.pacing: auditLogs)."""
        with self.engine.connect() as conn:
            watermark = source_watermark(conn, tenant.tenant_id, DIRECTORY_AUDITS)

        async def read(since: datetime, store: Callable[[list[Any]], None]) -> None:
            window = f"activityDateTime ge {graph_datetime(since)}"
            params = {"$filter": f"{window} and {DIRECTORY_AUDIT_CATEGORY_FILTER}", "$top": "1000"}
            loop = asyncio.get_running_loop()
            # Each page is stored on the writer thread, in order, while the next is read; every page
            # read is stored (or has failed) before this returns, so the counts are complete.
            stores: list[asyncio.Future[None]] = []
            try:
                await graph.each_page(
                    DIRECTORY_AUDITS_PATH,
                    params,
                    "v1.0",
                    lambda page: stores.append(loop.run_in_executor(self._writer, store, page)),
                )
            finally:
                outcomes = await asyncio.gather(*stores, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

        def store_page(entries: list[Any]) -> tuple[int, int, datetime | None]:
            with write_transaction(self.engine) as conn:
                return store_directory_audits(conn, tenant.tenant_id, entries)

        state, _ = await self.collect_incremental(
            tenant, DIRECTORY_AUDITS, watermark, self.settings.posture_history_days, read, store_page
        )
        return state

    async def collect_incremental(
        self,
        tenant: TenantRef,
        source: str,
        watermark: datetime | None,
        keep_days: int,
        read: Callable[[datetime, Callable[[Page], None]], Awaitable[None]],
        store_page: Callable[[Page], tuple[int, int, datetime | None]],
    ) -> tuple[str | None, int]:
        """The one incremental collection (sign-ins, directory audits): re-read a short overlap before
        the watermark (late arrivals), store page by page (idempotent by id; ``store_page`` returns
        stored, skipped, newest time), advance the watermark only when every page is stored; a failure
        keeps the pages stored so far and leaves the watermark. Returns (standing state, rows stored)."""
        started = self.clock()
        since = self._read_from(watermark, started, keep_days)
        stored = skipped = 0
        newest = watermark

        def store(page: Page) -> None:
            nonlocal stored, skipped, newest
            count, page_skipped, page_newest = store_page(page)
            stored += count
            skipped += page_skipped
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest

        try:
            await read(since, store)
        except Exception as error:  # noqa: BLE001 - pages stored so far stay; watermark does not move
            state = classify(error, source)
            await self._record(
                tenant.tenant_id, source, started, stored, failure_text(error, self.host()), state=state
            )
            return state, stored
        finally:
            if skipped:  # objects without a usable id or time: nothing to store them under
                log.warning("%s: %d malformed %s skipped", tenant.tenant_id, skipped, source)
        await self._record(tenant.tenant_id, source, started, stored, None, watermark=newest)
        return None, stored

    def _read_from(self, watermark: datetime | None, started: datetime, keep_days: int) -> datetime:
        """Where an incremental source starts reading: a short overlap before its watermark (late
        arrivals), the initial lookback without one, never before what is kept."""
        if watermark is None:
            since = started - timedelta(hours=self.settings.signin_initial_lookback_hours)
        else:
            since = watermark - timedelta(minutes=self.settings.signin_overlap_minutes)
        return max(since, started - timedelta(days=keep_days))

    def attach_changes(self) -> None:
        """Link the versions just collected (and the last day's still unlinked ones) to the audit entry
        or fix that made them, before the evaluation names them as causes."""
        try:
            with write_transaction(self.engine) as conn:
                attach_changes(conn, self.report.started_at - ATTACH_LOOKBACK)
        except Exception:  # noqa: BLE001 - logged; the versions stay, unattributed until the next cycle
            log.exception("changes could not be linked to their audit entries")

    def _standing(self, tenant_id: str) -> dict[str, tuple[str | None, datetime | None]]:
        """Per source of a tenant: (standing state, last attempt)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(CollectionState.source, CollectionState.state, CollectionState.last_attempt_at).where(
                    CollectionState.tenant_id == tenant_id
                )
            )
            return {source: (state, attempt) for source, state, attempt in rows}

    async def collect_tenant(self, tenant: TenantRef, signins_only: bool, limit: asyncio.Semaphore) -> None:
        """Every source of one tenant. A tenant whose app needs consent, and a licence-bound
        source of a tenant without the licence, are asked again only when their re-check is due
        (collectors.states); the first consent-needed answer stands for the whole tenant."""
        now = self.clock()
        standing = self._standing(tenant.tenant_id)
        sources = (
            []
            if signins_only
            else [s for s in TENANT_SOURCES if needed_from(s, tenant.role, tenant.access_mode)]
        )
        audits = [] if signins_only else [DIRECTORY_AUDITS]
        names = [s.name for s in sources] + audits + [SIGNINS]
        consent = [
            attempt for state, attempt in standing.values() if state == CONSENT_NEEDED and attempt is not None
        ]
        if consent and not due(CONSENT_NEEDED, max(consent), now):
            self.report.skipped += len(names)
            return

        def skip(name: str) -> bool:
            state, attempt = standing.get(name, (None, None))
            if name in LICENCE_BOUND and state is not None and not due(state, attempt, now):
                self.report.skipped += 1
                return True
            return False

        consent_needed = False

        async def lane(steps: list[tuple[str, Callable[[], Awaitable[str | None]]]]) -> None:
            nonlocal consent_needed
            for name, step in steps:
                if consent_needed:  # met in the other lane: no token for this tenant
                    return
                if skip(name):
                    continue
                if await step() == CONSENT_NEEDED:
                    consent_needed = True
                    return

        async with limit, TenantGraph(self.settings, tenant.tenant_id, self.pacer) as graph:

            def source_step(source: GraphSource) -> tuple[str, Callable[[], Awaitable[str | None]]]:
                return source.name, lambda: self.collect_source(graph, tenant, source)

            # Two lanes at once: the reports family (the scarcest limit, shared by every tenant) from
            # the start of the tenant's turn, beside its Conditional Access and directory sources.
            reports = [source_step(s) for s in sources if family_of(s.path) == "reports"]
            if audits:
                reports.append((DIRECTORY_AUDITS, lambda: self.collect_directory_audits(graph, tenant)))
            reports.append((SIGNINS, lambda: self.collect_signins(graph, tenant)))
            others = [source_step(s) for s in sources if family_of(s.path) != "reports"]
            await asyncio.gather(lane(reports), lane(others))
            if consent_needed:
                await self._consent_needed(tenant.tenant_id, names)

    async def _consent_needed(self, tenant_id: str, names: list[str]) -> None:
        """No token for this tenant: every source it would collect is in that state now (the
        source that met the answer is recorded already; the others get its text)."""
        with self.engine.connect() as conn:
            recorded = conn.execute(
                select(CollectionState.source, CollectionState.state_detail).where(
                    CollectionState.tenant_id == tenant_id,
                    CollectionState.state == CONSENT_NEEDED,
                    CollectionState.last_attempt_at >= self.report.started_at,
                )
            ).all()
        done = {source for source, _ in recorded}
        detail = next((d for _, d in recorded if d), None)
        now = self.clock()

        def store(conn: Connection) -> None:
            for name in names:
                if name not in done:
                    record_run(
                        conn,
                        cycle_id=self.report.cycle_id,
                        tenant_id=tenant_id,
                        source=name,
                        started_at=now,
                        finished_at=now,
                        rows=0,
                        error=detail,
                        state=CONSENT_NEEDED,
                    )

        await self.transact(store)

    async def collect_cipp(self, cipp: CippClient) -> None:
        msp_id = self.settings.msp_tenant_id
        for name, fetch in (
            (CIPP_API_CLIENTS, cipp.api_clients),
            (CIPP_AZURE_CONFIGURATION, cipp.azure_configuration),
        ):
            started = self.clock()
            try:
                result = await fetch()
                objects = result if isinstance(result, list) else [result]
                now = self.clock()
                count = await self.transact(
                    lambda conn: replace_objects(conn, msp_id, name, objects, now)  # noqa: B023 - awaited here
                )
            except Exception as error:  # noqa: BLE001
                await self._record(msp_id, name, started, 0, failure_text(error, self.host(cipp=True)))
                continue
            await self._record(msp_id, name, started, count, None)

    # --- lockout prediction (D-3) ---
    def lockout_identity(self, tenant: TenantRef) -> LockoutIdentity | str:
        """CIPP's identity in a client tenant, from what was just collected, or why it is unknown."""
        settings = self.settings
        with self.engine.connect() as conn:
            if tenant.access_mode == "direct":
                rows = graph_objects(conn, settings.msp_tenant_id, CIPP_TENANTS)
                row = next(
                    (r for r in rows if isinstance(r, dict) and r.get("customerId") == tenant.tenant_id), {}
                )
                upn = str(row.get("directTenantUserPrincipalName") or settings.service_account_upn)
                users, kind, home = graph_objects(conn, tenant.tenant_id, "users"), "serviceAccount", ""
            else:
                upn = settings.service_account_upn
                users = graph_objects(conn, settings.msp_tenant_id, "users")
                kind, home = "serviceProvider", settings.msp_tenant_id
        if not upn:
            return "no service account is configured (PERIMETER_SERVICE_ACCOUNT_UPN)"
        user_id = find_user_id(users, upn)
        if user_id is None:
            where = "the tenant's" if kind == "serviceAccount" else "the MSP tenant's"
            return f"the service account {upn} is not among {where} collected users"
        return LockoutIdentity(kind, user_id, upn, home)

    async def predict_lockout(self, tenant: TenantRef, limit: asyncio.Semaphore) -> None:
        """Would the tenant's Conditional Access block CIPP (Graph's what-if)? Stored per tenant as a
        graph object of its own kind (snapshot ``tenants[].cippWhatIf``, posture check D-3); a
        refusal (no licence, no permission) is stored as the reason, never raised."""
        identity = self.lockout_identity(tenant)
        now = self.clock()
        consent = [state for state, _ in self._standing(tenant.tenant_id).values() if state == CONSENT_NEEDED]
        try:
            if consent:  # no token for this tenant until an admin consents: not asked again here
                result = lockout_error(
                    "consent-needed", "the tenant's sources answered consent needed this cycle", now, None
                )
            elif isinstance(identity, str):
                result = lockout_error("no-identity", identity, now, None)
            else:
                async with limit, TenantGraph(self.settings, tenant.tenant_id, self.pacer) as graph:
                    result = await predict_lockout(graph, self.settings, identity, now)
        except Exception as error:  # noqa: BLE001 - one tenant's failure never stops the others
            result = lockout_error("error", failure_text(error, self.host()), now, None)
        stored_at = self.clock()
        await self.transact(
            lambda conn: replace_objects(conn, tenant.tenant_id, CIPP_WHAT_IF, [result], stored_at)
        )

    async def predict_lockouts(self, tenants: list[TenantRef]) -> None:
        limit = asyncio.Semaphore(self.settings.max_concurrent_tenants)
        await asyncio.gather(*(self.predict_lockout(t, limit) for t in tenants if t.role == "client"))

    async def evaluate_posture(self) -> None:
        """Findings of what was just collected (recorded like a source, on the MSP tenant)."""
        started = self.clock()
        try:
            summary = evaluate_and_store(self.settings, self.engine, started)
        except Exception as error:  # noqa: BLE001 - collection results stay; the error is recorded
            log.exception("posture evaluation failed")
            await self._record(
                self.settings.msp_tenant_id, POSTURE, started, 0, failure_text(error, "this machine")
            )
            return
        await self._record(self.settings.msp_tenant_id, POSTURE, started, summary["findings"], None)

    async def run(self, signins_only: bool = False, only_tenants: set[str] | None = None) -> CycleReport:
        """One cycle. ``only_tenants`` narrows collection (not discovery) to those tenant ids."""
        cipp = CippClient(self.settings, self.pacer) if self.settings.cipp_configured else None
        try:
            async with TenantGraph(self.settings, self.settings.msp_tenant_id, self.pacer) as msp:
                if signins_only:
                    tenants = [self._msp(), *self._known_clients()]
                else:
                    tenants = await self.discover(cipp, msp)
            if only_tenants is not None:
                tenants = [t for t in tenants if t.tenant_id in only_tenants]
            self.report.tenants = len(tenants)
            limit = asyncio.Semaphore(self.settings.max_concurrent_tenants)
            jobs = [self.collect_tenant(t, signins_only, limit) for t in tenants]
            if cipp is not None and not signins_only and only_tenants is None:
                jobs.append(self.collect_cipp(cipp))
            await asyncio.gather(*jobs)
            if not signins_only:  # after the tenants' policies and users are stored
                await self.predict_lockouts(tenants)
                self.attach_changes()
            if not signins_only and only_tenants is None:
                await self.evaluate_posture()
        finally:
            if cipp is not None:
                await cipp.__aexit__()
            self._writer.shutdown(wait=True)
        self.report.finished_at = self.clock()
        return self.report


def _client_from_cipp(row: dict[str, Any]) -> TenantRef | None:
    tenant_id = row.get("customerId")
    if not isinstance(tenant_id, str) or not tenant_id:
        return None
    direct = str(row.get("delegatedPrivilegeStatus", "")).lower() == "directtenant"
    return TenantRef(
        tenant_id,
        str(row.get("displayName") or tenant_id),
        str(row.get("defaultDomainName") or ""),
        "client",
        "direct" if direct else "gdap",
        "cipp",
    )


def _clients_from_gdap(relationships: list[Any]) -> list[TenantRef]:
    clients: dict[str, TenantRef] = {}
    for rel in relationships:
        if not isinstance(rel, dict) or str(rel.get("status", "")).lower() != "active":
            continue
        customer = rel.get("customer") or {}
        tenant_id = customer.get("tenantId")
        if isinstance(tenant_id, str) and tenant_id:
            clients[tenant_id] = TenantRef(
                tenant_id, str(customer.get("displayName") or tenant_id), "", "client", "gdap", "gdap"
            )
    return list(clients.values())


def failure_text(error: BaseException, host: str) -> str:
    """One line for the run record: '<cause> at <host>: <detail>' (at most 500 characters). The host is
    the one the failed request went to when the error knows it, else the service called; the
    Collectors page groups errors by what precedes the first ': ' (collectors.status.error_groups)."""
    cause = type(error).__name__
    detail = " ".join(str(error).split())
    if isinstance(error, GraphError) and error.status:
        cause = f"HTTP {error.status}"
        detail = detail.removeprefix(f"HTTP {error.status}: ")
    where = _request_host(error) or host or "unknown host"
    text = f"{cause} at {where}" + (f": {detail}" if detail and detail != cause else "")
    return text[:500]


def _request_host(error: BaseException) -> str | None:
    """The host of the request an httpx error (or one it was raised from) was about, if any."""
    seen: BaseException | None = error
    for _ in range(5):  # the transport error may sit a few causes deep (SDK wrappers)
        if seen is None:
            return None
        if isinstance(seen, httpx.RequestError):
            try:
                url = seen.request.url
            except RuntimeError:  # raised without a request
                return None
            return f"{url.host}:{url.port}" if url.port else url.host
        seen = seen.__cause__ or seen.__context__
    return None


def collect_once(
    settings: Settings,
    engine: Engine,
    *,
    signins_only: bool = False,
    only_tenants: set[str] | None = None,
    clock: Clock = utcnow,
) -> CycleReport:
    """Run one cycle to completion (its own event loop)."""
    return asyncio.run(
        Cycle(settings, engine, clock).run(signins_only=signins_only, only_tenants=only_tenants)
    )


def purge(settings: Settings, engine: Engine, clock: Clock = utcnow) -> dict[str, int]:
    """Retention. Sign-ins are deleted a quarter of an hour per transaction, oldest first, and their policy
    outcomes a tenant per transaction: one transaction for a whole day held the write lock for as long
    as it took (10 M sign-ins: 464,000 in 30 s, every collector write waiting that long)."""
    now = clock()
    signins_before = now - timedelta(days=settings.retention_days)
    # PostgreSQL (no-ops on SQLite): whole days past retention go as partitions, each dropped in a short
    # transaction of its own (db.partitions.drop_partitions_before), and the coming days get theirs; the
    # row-deleting purge then only trims the rest of the cut's day.
    partitions = drop_partitions_before(engine, signins_before)
    dropped = partitions.signins
    if partitions.kept_from is not None:
        # A day whose partition a long reader kept locked stays whole until the next run drops it: the cut
        # moves back to where it starts, so the purge below neither deletes it row by row (a drop's work
        # done as tens of seconds of deletes, leaving as many dead rows) nor what its sign-ins still need
        # meanwhile (their outcomes and rollups, the compression dictionaries their JSON names).
        signins_before = min(signins_before, partitions.kept_from)
        days = ", ".join(day.isoformat() for day in partitions.kept)
        log.info("retention: the partitions of %s are left to the next run (signins was locked)", days)
    ensure_partitions_now(engine, now)
    with engine.connect() as conn:
        oldest = oldest_signin_at(conn)
        tenants = signin_tenant_ids(conn)  # once: newer tenants have nothing this old
    if oldest is not None:
        cut = oldest.replace(minute=0, second=0, microsecond=0) + PURGE_SLICE
        while cut < signins_before:
            with write_transaction(engine) as conn:
                dropped += purge_signins_before(conn, cut, tenants)
            cut += PURGE_SLICE
            time.sleep(PURGE_PAUSE_SECONDS)
    with write_transaction(engine) as conn:  # the rest of the sign-ins
        dropped += purge_signins_before(conn, signins_before, tenants)
    with engine.connect() as conn:
        tenants = policy_outcome_tenants(conn)
    for tenant_id in tenants:  # policy outcomes: a tenant per transaction (its part of their keys)
        with write_transaction(engine) as conn:
            purge_outcomes_before(conn, tenant_id, signins_before)
        time.sleep(PURGE_PAUSE_SECONDS)
    with write_transaction(engine) as conn:
        counts = purge_runs_and_dictionaries(
            conn, signins_before, now - timedelta(days=settings.run_history_days)
        )
    return {"signins": dropped, **counts}


def refresh_statistics(engine: Engine, clock: Clock = utcnow) -> bool:
    """After retention (the purge's locks are not held meanwhile), on PostgreSQL: the partitions of the
    days that have ended vacuumed, so index-only scans skip their heap (db.partitions.settle_ended_days),
    then the partitioned sign-ins' statistics in a transaction of their own (analyze_signins). Nothing
    on SQLite (False)."""
    vacuumed = settle_ended_days(engine, clock())
    if vacuumed:
        log.info("vacuumed the partitions of ended days: %s", ", ".join(vacuumed))
    with write_transaction(engine) as conn:
        return analyze_signins(conn)
