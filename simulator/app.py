"""The Simulator object: configuration, lifecycle (start/stop, context manager) and test helpers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator import audits, demo
from simulator.faults import FaultInjector
from simulator.server import SimHTTPServer, make_token
from simulator.state import SimState
from simulator.throttle import Throttler


@dataclass
class SimConfig:
    seed: int = 7
    now: datetime | None = None  # None: the real clock; a fixed instant freezes the simulated clock
    throttle: bool = True
    faults: list[dict[str, Any]] = field(default_factory=list)
    host: str = "127.0.0.1"  # loopback only unless asked otherwise
    port: int = 0  # 0: any free port
    log_requests: bool = False
    drift_every_s: float | None = None  # the demo drift's period (None: every 8 simulated hours)
    clients: int = demo.DEMO_CLIENTS  # client tenants: the demo's 25, or more (copies of them)


def _user_count(tenant_id: str) -> int:
    spec = demo.client_by_id(tenant_id)
    return spec.user_count if spec else 30


class Simulator:
    """A simulated MSP behind a real HTTP server: `with Simulator(SimConfig(...)) as sim: sim.url`."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.state = SimState(self.config.seed, self.config.now, self.config.clients)
        self.state.drift_every_s = self.config.drift_every_s
        self.faults = FaultInjector(self.config.faults, self.config.seed)
        self.throttler = Throttler(self.config.throttle, _user_count)
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def bind(self) -> SimHTTPServer:
        """Open the listening socket (raises OSError when the port is taken)."""
        if self._server is None:
            self._server = SimHTTPServer((self.config.host, self.config.port), self)
        return self._server

    def start(self) -> Simulator:
        """Serve in a daemon thread; returns self so `sim = Simulator().start()` reads naturally."""
        server = self.bind()
        if self._thread is None:
            # A short poll interval makes stop() quick (tests start and stop many simulators).
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI) until shutdown() or an exception (KeyboardInterrupt)."""
        self.bind().serve_forever()

    def stop(self) -> None:
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self._server, self._thread = None, None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.base_url

    # --- helpers for tests and demo credentials ------------------------------------------------------

    @staticmethod
    def token(tenant_id: str, audience: str = "https://graph.microsoft.com") -> str:
        """A bearer token the simulator accepts for `tenant_id` (Graph by default)."""
        return make_token(tenant_id, audience)

    @staticmethod
    def cipp_token() -> str:
        """A token for Perimeter's own CIPP-API client (audience ``api://<client id>``)."""
        return make_token(demo.MSP_TENANT_ID, f"api://{demo.PERIMETER_CIPP_CLIENT_ID}")

    def now(self) -> datetime:
        return self.state.clock.now()

    def advance(self, seconds: float) -> datetime:
        with self.state.lock:
            self.state.clock.advance(seconds)
        return self.now()

    def drift_now(self, tenant_id: str | None = None) -> dict | None:
        """Force one demo drift now (default tenant: the first of `audits.drift_tenants(seed)`): a
        client admin removes the service-provider exclusion from an enabled policy. Returns the
        directoryAudit logged, or None when no enabled policy there still has the exclusion."""
        return audits.drift_now(self.state, tenant_id)
