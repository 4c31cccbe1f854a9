"""Injectable faults: rules matched against each request, firing a number of times or at a rate."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

KINDS = ("status", "truncate", "delay", "emptyPage", "revoked", "listTenantsError")


@dataclass
class Fault:
    kind: str
    path: str = ""  # substring of the request path (case-insensitive); "" matches every path
    tenant: str | None = None
    count: int | None = None  # fires for the next N matching requests
    rate: float | None = None  # fires with this probability
    status: int = 503
    retry_after: float | None = None
    ms: int = 1000
    message: str = "The operation has timed out."  # listTenantsError: the exception CIPP caught

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        """Build a rule from its JSON form; ValueError with a short reason when it is unusable."""
        if not isinstance(raw, dict):
            raise ValueError("a fault must be a JSON object")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (expected one of {', '.join(KINDS)})")
        count, rate = raw.get("count"), raw.get("rate")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ValueError("count must be a non-negative integer or null")
        if rate is not None and (not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
            raise ValueError("rate must be a number between 0 and 1 or null")
        fault = cls(
            kind=kind,
            path=str(raw.get("path") or ""),
            tenant=raw.get("tenant"),
            count=count,
            rate=None if rate is None else float(rate),
        )
        if kind == "status":
            status = raw.get("status", 503)
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError("status must be an HTTP error status (400-599)")
            fault.status = status
            retry_after = raw.get("retryAfter")
            if retry_after is not None and not isinstance(retry_after, (int, float)):
                raise ValueError("retryAfter must be a number of seconds or null")
            fault.retry_after = retry_after
        if kind == "delay":
            ms = raw.get("ms", 1000)
            if not isinstance(ms, (int, float)) or not 0 <= ms <= 120_000:
                raise ValueError("ms must be between 0 and 120000")
            fault.ms = int(ms)
        if kind == "listTenantsError":
            message = raw.get("message", fault.message)
            if not isinstance(message, str):
                raise ValueError("message must be a string")
            fault.message = message
        return fault


class FaultInjector:
    def __init__(self, rules: list[Any], seed: int):
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults:{seed}")
        self._rules = [Fault.parse(r) for r in rules]

    def replace(self, rules: list[Any]) -> None:
        parsed = [Fault.parse(r) for r in rules]  # all or nothing
        with self._lock:
            self._rules = parsed

    def pick(self, path: str, tenant_id: str | None, kinds: tuple[str, ...]) -> Fault | None:
        """The first rule of one of `kinds` matching this request that fires now (and count it)."""
        lowered = path.lower()
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or rule.path.lower() not in lowered:
                    continue
                if rule.tenant and rule.tenant.lower() != (tenant_id or "").lower():
                    continue
                if rule.count is not None and rule.count <= 0:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                return rule
        return None
