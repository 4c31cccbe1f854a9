"""Graph credentials: one per tenant for the life of the process, async (never blocking the loop),
closed when the worker stops; certificate passwords and managed identities from the settings."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from collectors.run import collect_once
from connectors import auth
from connectors.auth import StaticTokenCredential, close_credentials, shared_graph_credential
from db import open_database
from settings import load_settings
from support import FIXED_NOW

CLIENT = "f1b3f8f4-5a1c-4b86-9d39-1d1a6ba30d0a"


class CountingCredential:
    """A synchronous credential that caches its token as azure-identity's do, counting fetches."""

    fetches: Counter[str] = Counter()
    threads: set[int] = set()
    closed: list[str] = []

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.token = None

    def get_token(self, *scopes, **kwargs):  # type: ignore[no-untyped-def]
        CountingCredential.threads.add(threading.get_ident())
        if self.token is None:
            CountingCredential.fetches[self.tenant_id] += 1
            self.token = StaticTokenCredential(self.tenant_id).get_token(*scopes)
        return self.token

    def close(self) -> None:
        CountingCredential.closed.append(self.tenant_id)


@pytest.fixture
def counting(monkeypatch):
    asyncio.run(close_credentials())
    CountingCredential.fetches.clear()
    CountingCredential.threads.clear()
    CountingCredential.closed.clear()
    monkeypatch.setattr(auth, "graph_credential", lambda settings, tenant_id: CountingCredential(tenant_id))
    yield CountingCredential
    asyncio.run(close_credentials())


def _demo(simulator, tmp_path):
    from simulator import demo

    url = f"sqlite:///{tmp_path / 'perimeter.db'}"
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    client = next(c.tenant_id for c in demo.client_tenants() if c.display_name == "Southridge Video")
    return settings, open_database(url), {settings.msp_tenant_id, client}


def test_tokens_are_fetched_once_per_tenant_across_cycles(counting, simulator, tmp_path):
    settings, engine, tenants = _demo(simulator, tmp_path)
    collect_once(settings, engine, clock=lambda: FIXED_NOW, only_tenants=tenants)  # discovery too
    for _ in range(3):
        collect_once(settings, engine, signins_only=True, only_tenants=tenants, clock=lambda: FIXED_NOW)
    assert {t: counting.fetches[t] for t in tenants} == {t: 1 for t in tenants}


def test_a_synchronous_credential_is_asked_off_the_event_loop(counting, simulator, tmp_path):
    settings, engine, tenants = _demo(simulator, tmp_path)
    collect_once(settings, engine, signins_only=True, only_tenants=tenants, clock=lambda: FIXED_NOW)
    assert counting.threads and threading.get_ident() not in counting.threads


def test_closing_credentials_closes_each_and_builds_new_ones_after(counting):
    settings = load_settings(simulator_url="http://127.0.0.1:9")
    first = shared_graph_credential(settings, CLIENT)
    assert shared_graph_credential(settings, CLIENT.upper()) is first  # one per tenant
    asyncio.run(close_credentials())
    assert counting.closed == [CLIENT]
    assert shared_graph_credential(settings, CLIENT) is not first


def test_a_client_secret_builds_an_async_azure_identity_credential():
    from azure.identity.aio import ClientSecretCredential

    settings = load_settings(graph_client_id="app", graph_client_secret="s3cret", msp_tenant_id=CLIENT)
    credential = auth.graph_credential(settings, CLIENT)
    try:
        assert isinstance(credential, ClientSecretCredential)
    finally:
        asyncio.run(credential.close())


def _encrypted_certificate(path, password: bytes) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perimeter-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )


def test_an_encrypted_certificate_is_opened_with_its_password(tmp_path, monkeypatch):
    from azure.identity.aio import CertificateCredential

    pem = tmp_path / "app.pem"
    _encrypted_certificate(pem, b"pem-pass")
    monkeypatch.setenv("PERIMETER_GRAPH_CERTIFICATE_PASSWORD", "pem-pass")
    settings = load_settings(graph_client_id="app", graph_certificate_path=str(pem), msp_tenant_id=CLIENT)
    assert "pem-pass" in settings.secret_values()
    credential = auth.graph_credential(settings, CLIENT)
    try:
        assert isinstance(credential, CertificateCredential)
    finally:
        asyncio.run(credential.close())
    monkeypatch.setenv("PERIMETER_GRAPH_CERTIFICATE_PASSWORD", "wrong")
    with pytest.raises(ValueError):
        auth.graph_credential(
            load_settings(graph_client_id="app", graph_certificate_path=str(pem), msp_tenant_id=CLIENT),
            CLIENT,
        )


def test_a_managed_identity_is_the_apps_assertion_in_every_tenant(monkeypatch):
    from azure.identity import ClientAssertionCredential

    monkeypatch.setenv("PERIMETER_GRAPH_USE_MANAGED_IDENTITY", "true")
    settings = load_settings(graph_client_id="app", msp_tenant_id=CLIENT)
    assert not settings.demo_mode
    try:
        credential = shared_graph_credential(settings, CLIENT)
        assert isinstance(credential, auth.ThreadedCredential)  # synchronous: run off the loop
        assert isinstance(credential.credential, ClientAssertionCredential)
    finally:
        asyncio.run(close_credentials())


def test_the_cipp_credential_is_kept_across_cycles(counting):
    from connectors.cipp import CippClient
    from connectors.pacing import Pacer

    settings = load_settings(simulator_url="http://127.0.0.1:9")
    first, second = CippClient(settings, Pacer()), CippClient(settings, Pacer())
    try:
        assert first.credential is second.credential
    finally:
        asyncio.run(first.__aexit__())
        asyncio.run(second.__aexit__())


def test_an_async_credential_is_shared_as_it_is():
    from azure.identity.aio import ClientSecretCredential

    settings = load_settings(graph_client_id="app", graph_client_secret="s3cret", msp_tenant_id=CLIENT)
    try:
        credential = shared_graph_credential(settings, CLIENT)
        assert isinstance(credential, ClientSecretCredential)  # awaited by kiota, no thread
        assert credential._client._pipeline._transport.__class__.__name__ == "AsyncioRequestsTransport"
    finally:
        asyncio.run(close_credentials())


def test_the_simulators_token_endpoint_is_asked_once_per_tenant_across_cycles(sim, tmp_path):
    import httpx

    asyncio.run(close_credentials())
    settings, engine, tenants = _demo(sim, tmp_path)
    try:
        collect_once(settings, engine, clock=lambda: FIXED_NOW, only_tenants=tenants)
        for _ in range(3):
            collect_once(settings, engine, signins_only=True, only_tenants=tenants, clock=lambda: FIXED_NOW)
    finally:
        asyncio.run(close_credentials())
    assert httpx.get(f"{sim.url}/_sim/stats").json()["tokens"] == {t: 1 for t in tenants}
