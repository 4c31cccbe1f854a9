"""The one pacing and retry policy: stay inside Graph's published limits instead of relying on
429s (REFERENCE.md, "Throttling"), and back off the same way everywhere when something fails."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Published limits, per family: (requests, window seconds) per tenant and across all tenants.
# Directory objects are a resource-unit bucket (3,500 RU / 10 s for small tenants); one request
# costs 1–3 RU, so 500 requests / 10 s stays well inside it.
LIMITS: dict[str, tuple[tuple[int, float], tuple[int, float]]] = {
    "reports": ((5, 10.0), (122, 10.0)),
    "ca": ((1, 1.0), (10_000, 10.0)),
    "directory": ((500, 10.0), (10_000, 10.0)),
    "cipp": ((10, 1.0), (10, 1.0)),
}
# The server counts requests when they arrive, which can be later than we sent them. A request's
# place in the window is therefore stamped when its response is back (never earlier than its
# arrival), and the window is a little longer than published: 1 % and 50 ms, as the stamp already
# covers the network and every % longer is a % of a saturated family's throughput lost (5 % left the
# reports family at most 95 % of its ceiling, bench/collect.py).
WINDOW_MARGIN = 1.01
WINDOW_SLACK_S = 0.05
# Across tenants, once half a window is used the rest is spread evenly over it (one request every
# window ÷ limit). Released all at once, the tenants waiting for it move on in step and the shared limit
# idles while they all read their other sources together (bench/collect.py, 500 tenants: 10-s windows of
# 41-122 reports requests in bursts, 89-122 spread).
SMOOTH_FROM = 0.5

MAX_ATTEMPTS = 4


def family_of(path: str) -> str:
    """Which published limit a Graph path falls under."""
    lowered = path.lower()
    if "/auditlogs/" in lowered or "/reports/" in lowered:
        return "reports"
    if "/identity/conditionalaccess" in lowered:
        return "ca"
    return "directory"


@dataclass
class _Window:
    limit: int
    seconds: float
    sent: deque[list[float]]  # one mutable stamp per request: send time, then completion time
    smooth: bool = False  # space requests evenly once SMOOTH_FROM of the window is used
    next_slot: float = float("-inf")  # when spaced, the next request's turn

    def smoothing(self) -> bool:
        return self.smooth and len(self.sent) >= self.limit * SMOOTH_FROM

    def wait_needed(self, now: float) -> float:
        while self.sent and now - self.sent[0][0] >= self.seconds:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            return max(self.seconds - (now - self.sent[0][0]), 0.001)
        if self.smoothing():
            gap = self.next_slot - now
            return max(gap, 0.001) if gap > 0 else 0.0
        return 0.0

    def sent_at(self, now: float) -> None:
        """Book the next turn. Spaced, it follows the schedule, not the send: a request woken late (the
        event loop busy, every tenant's waiter waking at once) by less than a turn lets the next go that
        much sooner, so the spacing keeps to window ÷ limit on average (bench/collect.py: 10-20 % of the
        reports family lost to late wake-ups before)."""
        interval = self.seconds / self.limit
        late = now - self.next_slot
        if self.smoothing() and 0 <= late < interval:
            self.next_slot += interval
        else:  # not spaced yet, or after a pause (the window was full): one turn from now
            self.next_slot = now + interval


class Pacer:
    """Sliding windows per (tenant, family) and per family across tenants, for one event loop."""

    def __init__(
        self,
        limits: dict[str, tuple[tuple[int, float], tuple[int, float]]] | None = None,
        clock=time.monotonic,
    ) -> None:  # type: ignore[no-untyped-def]
        self.limits = limits or LIMITS
        self.clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self.waited_seconds = 0.0

    def _window(self, scope: str, family: str) -> _Window:
        key = (scope, family)
        window = self._windows.get(key)
        if window is None:
            per_tenant, across = self.limits[family]
            limit, seconds = across if scope == "*" else per_tenant
            window = _Window(limit, seconds * WINDOW_MARGIN + WINDOW_SLACK_S, deque(), smooth=scope == "*")
            self._windows[key] = window
        return window

    @asynccontextmanager
    async def slot(self, tenant_id: str, family: str) -> AsyncIterator[None]:
        """Wait until one more request of ``family`` for ``tenant_id`` is within every limit;
        the request runs inside the block."""
        windows = (self._window(tenant_id, family), self._window("*", family))
        while True:
            now = self.clock()
            wait = max(w.wait_needed(now) for w in windows)
            if wait <= 0:
                break
            self.waited_seconds += wait
            await asyncio.sleep(wait)
        stamp = [now]
        for w in windows:
            w.sent_at(now)
            w.sent.append(stamp)
        try:
            yield
        finally:
            stamp[0] = self.clock()


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After when it gives
    one, else exponential with jitter (as Graph's SDK does), capped."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, 60.0)
    return min(0.5 * 2 ** (attempt - 1) + random.uniform(0, 0.25), 10.0)
