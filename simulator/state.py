"""The simulator's mutable state: clock, per-tenant configuration with its history, CIPP, counters.

One re-entrant lock guards every mutation. Configuration changes are recorded as snapshots with the
simulated time they took effect, so sign-ins generated for earlier moments keep the old behaviour.
"""

from __future__ import annotations

import bisect
import copy
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator import demo
from simulator.ca import CompiledPolicies
from simulator.signins import SignInSource, TenantSnapshot


class SimClock:
    """The simulated clock: frozen at a fixed instant (advanced on request) or the real clock."""

    def __init__(self, fixed: datetime | None):
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=UTC)
        self._fixed = fixed.timestamp() if fixed is not None else None

    @property
    def is_fixed(self) -> bool:
        return self._fixed is not None

    def now_ts(self) -> float:
        return self._fixed if self._fixed is not None else time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ts(), UTC)

    def advance(self, seconds: float) -> None:
        if self._fixed is None:
            raise ValueError("the clock is real; only a fixed clock can be advanced")
        if seconds < 0:
            raise ValueError("advanceSeconds must not be negative")
        self._fixed += seconds


@dataclass
class TenantState:
    config: demo.TenantConfig
    # (effective from, snapshot): a snapshot applies to sign-ins strictly after its time.
    history_times: list[float] = field(default_factory=list)
    history: list[TenantSnapshot] = field(default_factory=list)
    # The directory audit log, oldest first (simulator/audits.py appends and serves it).
    audits: list[demo.AuditEntry] = field(default_factory=list)


def _snapshot(config: demo.TenantConfig) -> TenantSnapshot:
    policies = copy.deepcopy(config.policies)
    locations = copy.deepcopy(config.named_locations)
    return TenantSnapshot(CompiledPolicies(policies, locations), config.security_defaults)


class SimState:
    def __init__(self, seed: int, now: datetime | None, clients: int = demo.DEMO_CLIENTS):
        self.seed = seed
        self.clients = demo.client_tenants(clients)
        self.lock = threading.RLock()
        self.clock = SimClock(now)
        start = self.clock.now()
        self.start_ts = start.timestamp()  # the demo's drift schedule counts from here
        self.tenants: dict[str, TenantState] = {}
        for tid in demo.all_tenant_ids(clients):
            config = demo.initial_config(seed, tid, start)
            # Each object its own copy: the demo builds policies from shared pieces (one exclusion
            # condition for several policies), and a PATCH of one must not change the others.
            config.policies = [copy.deepcopy(p) for p in config.policies]
            config.named_locations = [copy.deepcopy(n) for n in config.named_locations]
            audits = [
                demo.AuditEntry(ts, seq, body)
                for seq, (ts, body) in enumerate(demo.audit_history(seed, tid, config, start))
            ]
            self.tenants[tid] = TenantState(config, [float("-inf")], [_snapshot(config)], audits)
        self.drifts_applied = 0  # scheduled demo drifts already made (simulator/audits.py)
        self.drift_every_s: float | None = None  # the drift's period; None: audits.DRIFT_EVERY_SECONDS
        self.gdap_relationships = demo.delegated_admin_relationships(start, clients)
        self.cipp_tenants = demo.cipp_tenants(clients)
        self.api_clients, self.azure_client_ids = demo.initial_api_clients(seed)
        self.signins = SignInSource(seed, self.snapshot_at)
        self.requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.throttled: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.faults_fired = 0
        self.writes = 0
        self.tokens: dict[str, int] = defaultdict(int)  # tokens granted per tenant (token endpoint)

    def snapshot_at(self, tenant_id: str, ts: float) -> TenantSnapshot:
        tenant = self.tenants[tenant_id]
        with self.lock:
            index = bisect.bisect_left(tenant.history_times, ts) - 1
            return tenant.history[max(index, 0)]

    def commit(self, tenant_id: str, at: float | None = None) -> None:
        """Record the tenant's current configuration as effective from now, or from `at` (a scheduled
        change caught up late; never before the last change), with the lock held."""
        tenant = self.tenants[tenant_id]
        now = self.clock.now_ts() if at is None else max(at, tenant.history_times[-1])
        # Several writes within the same instant: the last one wins for sign-ins after it.
        if tenant.history_times[-1] == now:
            tenant.history[-1] = _snapshot(tenant.config)
        else:
            tenant.history_times.append(now)
            tenant.history.append(_snapshot(tenant.config))
        self.writes += 1
        self.signins.invalidate(tenant_id, now)

    def count(self, tenant_id: str, family: str, throttled: bool = False) -> None:
        with self.lock:
            (self.throttled if throttled else self.requests)[tenant_id][family] += 1

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": {t: dict(f) for t, f in self.requests.items()},
                "throttled": {t: dict(f) for t, f in self.throttled.items()},
                "faultsFired": self.faults_fired,
                "writes": self.writes,
                "tokens": dict(self.tokens),
            }

    def reset_stats(self) -> None:
        with self.lock:
            self.requests.clear()
            self.throttled.clear()
            self.faults_fired = 0
            self.writes = 0
            self.tokens.clear()
