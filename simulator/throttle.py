"""Graph's published throttling limits as sliding windows on the real monotonic clock.

Families (REFERENCE.md):
- reports (auditLogs/*, reports/*): 5 requests / 10 s per tenant and 122 / 10 s across tenants;
  429 with Retry-After.
- ca (identity/conditionalAccess/*): 1 request / s per tenant; 429 *without* Retry-After.
- directory (everything else): resource units per 10 s per tenant - 3,500 under 50 users, 5,000 up to
  500, 8,000 above; 429 with Retry-After.
A rejected request does not count against the window (Graph does not charge throttled calls).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class SlidingWindow:
    def __init__(self, limit: float, seconds: float):
        self.limit = limit
        self.seconds = seconds
        self._events: deque[tuple[float, float]] = deque()
        self._used = 0.0

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.seconds:
            _, cost = self._events.popleft()
            self._used -= cost

    def wait_needed(self, now: float, cost: float) -> float:
        """0 when `cost` fits now, else seconds until enough of the window has expired."""
        self._expire(now)
        if self._used + cost <= self.limit:
            return 0.0
        excess = self._used + cost - self.limit
        freed = 0.0
        for at, c in self._events:
            freed += c
            if freed >= excess:
                return max(at + self.seconds - now, 0.001)
        return self.seconds

    def add(self, now: float, cost: float) -> None:
        self._events.append((now, cost))
        self._used += cost


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int | None = None  # seconds for the Retry-After header; None: send none


def directory_limit(user_count: int) -> int:
    if user_count < 50:
        return 3500
    return 5000 if user_count <= 500 else 8000


class Throttler:
    def __init__(
        self,
        enabled: bool = True,
        tenant_users: Callable[[str], int] = lambda tid: 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.enabled = enabled
        self._tenant_users = tenant_users
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        self._global_reports = SlidingWindow(122, 10)

    def _window(self, family: str, tenant_id: str) -> SlidingWindow:
        key = (family, tenant_id)
        window = self._windows.get(key)
        if window is None:
            if family == "reports":
                window = SlidingWindow(5, 10)
            elif family == "ca":
                window = SlidingWindow(1, 1)
            else:
                window = SlidingWindow(directory_limit(self._tenant_users(tenant_id)), 10)
            self._windows[key] = window
        return window

    def check(self, family: str, tenant_id: str, cost: float = 1) -> Decision:
        if not self.enabled or family not in ("reports", "ca", "directory"):
            return Decision(True)
        with self._lock:
            now = self._clock()
            window = self._window(family, tenant_id)
            wait = window.wait_needed(now, cost)
            if family == "reports":
                wait = max(wait, self._global_reports.wait_needed(now, cost))
            if wait > 0:
                return Decision(False, None if family == "ca" else max(1, math.ceil(wait)))
            window.add(now, cost)
            if family == "reports":
                self._global_reports.add(now, cost)
            return Decision(True)
