"""Two dashboard replicas behind one public address: a sign-in made through one replica is honoured by
the other. Streamlit signs its login cookie (and the OpenID Connect state it keeps in a cookie while the
provider answers) with ``[auth] cookie_secret``; with the same secrets.toml on every replica the cookie
is all a replica needs, the session in one process's memory is not."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from browser_support import running_dashboard
from oidc_provider import OidcProvider, OidcUser

from support import collect_demo

pytestmark = pytest.mark.browser


class SwitchingProxy:
    """A TCP proxy on one loopback port: the replicas' single public address. Every connection goes to
    the backend chosen when it opened; ``switch`` sends new connections elsewhere and drops the open
    ones (as a load balancer does when a replica leaves), so the browser must reconnect to the other."""

    def __init__(self) -> None:
        self.backend = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def switch(self, backend_port: int) -> None:
        with self._lock:
            self.backend = backend_port
            dropped, self._open = self._open, []
        for sock in dropped:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.switch(0)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                backend = self.backend
            try:
                upstream = socket.create_connection(("127.0.0.1", backend))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    idp = OidcProvider(
        "perimeter-test", "test-secret", OidcUser("tech@msp.example", "Tess Tech", ["Operator"])
    ).start()
    yield idp
    idp.stop()


def test_a_sign_in_through_one_replica_is_honoured_by_the_other(
    simulator, demo_database, provider, browser, tmp_path_factory
):
    url, _ = collect_demo(demo_database, tmp_path_factory, "replicas")  # one database, both replicas
    proxy = SwitchingProxy()
    public = f"http://127.0.0.1:{proxy.port}"
    # One secrets.toml for both, as an operator deploys it: the same cookie_secret, the public redirect.
    shared = provider.secrets_toml(f"{public}/oauth2callback")
    secrets_dir = tmp_path_factory.mktemp("secrets")
    try:
        with (
            running_dashboard(
                url, simulator.url, tmp_path_factory.mktemp("a"), lambda _: shared, secrets_dir
            ) as first,
            running_dashboard(
                url, simulator.url, tmp_path_factory.mktemp("b"), lambda _: shared, secrets_dir
            ) as second,
        ):
            proxy.switch(int(first.rsplit(":", 1)[1]))
            page = browser.new_page()
            try:
                page.goto(public)
                page.get_by_role("button", name="Sign in with Microsoft").click()
                page.get_by_text("tech@msp.example · Operator").wait_for(timeout=30_000)
                proxy.switch(int(second.rsplit(":", 1)[1]))
                page.reload()
                page.get_by_role("heading", name="Tenants").first.wait_for(timeout=30_000)
                page.get_by_text("tech@msp.example · Operator").wait_for(timeout=30_000)
                assert page.get_by_role("button", name="Sign in with Microsoft").count() == 0
                assert page.locator("[data-testid='stException']").count() == 0
            finally:
                page.close()
    finally:
        proxy.close()
