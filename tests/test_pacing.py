"""The one pacing policy (connectors/pacing.py): requests stay inside every published window, per tenant
and across tenants, and go at once while they fit; the window shared by all tenants is spread evenly once
half used instead of released in bursts. Time is virtual: the pacer's clock moves only when a waiting
request wakes."""

from __future__ import annotations

import asyncio
import heapq

import pytest

from connectors import pacing
from connectors.pacing import SMOOTH_FROM, WINDOW_MARGIN, WINDOW_SLACK_S, Pacer

PER_TENANT, ACROSS = 5, 20
LIMITS = {"reports": ((PER_TENANT, 10.0), (ACROSS, 10.0))}
WINDOW = 10.0 * WINDOW_MARGIN + WINDOW_SLACK_S  # the window the pacer keeps: published plus its margin
real_sleep = asyncio.sleep


class VirtualTime:
    """A clock and a sleep for the pacer: sleepers wake one at a time, earliest first."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, self._count, future))
        self._count += 1
        await future

    async def run(self, *jobs) -> None:  # type: ignore[no-untyped-def]
        tasks = [asyncio.ensure_future(job) for job in jobs]
        while not all(t.done() for t in tasks):
            for _ in range(5):  # every runnable job reaches its next sleep or its end
                await real_sleep(0)
            if self._sleepers:
                self.now, _, future = heapq.heappop(self._sleepers)
                future.set_result(None)
        for t in tasks:
            t.result()


@pytest.fixture
def send_times(monkeypatch):  # type: ignore[no-untyped-def]
    """``send_times(tenants, per_tenant)``: when each reports request, all wanted at once, went out."""

    def run(tenants: int, per_tenant: int) -> list[float]:
        clock = VirtualTime()
        monkeypatch.setattr(pacing.asyncio, "sleep", clock.sleep)
        pacer = Pacer(LIMITS, clock)
        sent: list[float] = []

        async def tenant(tenant_id: str) -> None:
            for _ in range(per_tenant):
                async with pacer.slot(tenant_id, "reports"):
                    sent.append(clock.now)

        asyncio.run(clock.run(*(tenant(f"t{i}") for i in range(tenants))))
        return sorted(sent)

    return run


def most_in_any_window(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + WINDOW) for start in times)


def test_requests_across_tenants_never_exceed_the_shared_window(send_times):
    assert most_in_any_window(send_times(tenants=20, per_tenant=4)) == ACROSS


def test_one_tenant_never_exceeds_its_own_window(send_times):
    assert most_in_any_window(send_times(tenants=1, per_tenant=12)) == PER_TENANT


def test_requests_that_fit_half_the_shared_window_go_at_once(send_times):
    half = int(ACROSS * SMOOTH_FROM)
    assert send_times(tenants=half // PER_TENANT, per_tenant=PER_TENANT) == [0.0] * half


def test_a_full_window_reopens_when_its_oldest_request_leaves_it(send_times):
    times = send_times(tenants=1, per_tenant=PER_TENANT + 1)
    assert times[-1] == pytest.approx(WINDOW)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def test_the_shared_window_goes_at_once_up_to_half_then_one_request_every_window_over_limit(send_times):
    times = send_times(tenants=ACROSS, per_tenant=3)
    burst = int(ACROSS * SMOOTH_FROM)
    assert times[:burst] == [0.0] * burst
    # The rest of the first window spaced evenly; the next opens when the burst leaves it, and from
    # then on the requests are spaced evenly throughout.
    assert times[ACROSS] == pytest.approx(WINDOW)
    for spaced in (times[burst - 1 : ACROSS], times[ACROSS:]):
        assert all(gap == pytest.approx(WINDOW / ACROSS, abs=0.002) for gap in gaps(spaced))


def test_a_tenants_own_window_is_not_spread(send_times):
    assert send_times(tenants=1, per_tenant=PER_TENANT) == [0.0] * PER_TENANT


def test_a_saturated_shared_window_sends_at_the_published_rate_within_two_percent(send_times):
    times = send_times(tenants=2 * ACROSS, per_tenant=PER_TENANT - 2)  # the shared limit binds
    spaced = times[ACROSS:]  # past the first window: one request every window ÷ limit
    published_gap = 10.0 / ACROSS
    assert sum(gaps(spaced)) / (len(spaced) - 1) == pytest.approx(published_gap, rel=0.02)
    # ... and never more than the published limit in any published window
    assert max(sum(1 for t in times if start <= t < start + 10.0) for start in times) <= ACROSS


def test_requests_woken_late_keep_the_spaced_rate(monkeypatch):
    """A busy event loop wakes every waiter late: the turns stay on schedule instead of each late send
    pushing every later one back."""
    clock = VirtualTime()
    late = 0.2 * WINDOW / ACROSS  # a fifth of a turn, every wake-up

    async def late_sleep(seconds: float) -> None:
        await clock.sleep(seconds + late)

    monkeypatch.setattr(pacing.asyncio, "sleep", late_sleep)
    pacer = Pacer(LIMITS, clock)
    sent: list[float] = []

    async def tenant(tenant_id: str) -> None:
        for _ in range(PER_TENANT - 2):
            async with pacer.slot(tenant_id, "reports"):
                sent.append(clock.now)

    asyncio.run(clock.run(*(tenant(f"t{i}") for i in range(2 * ACROSS))))
    spaced = sorted(sent)[ACROSS:]
    assert sum(gaps(spaced)) / (len(spaced) - 1) == pytest.approx(WINDOW / ACROSS, rel=0.05)
