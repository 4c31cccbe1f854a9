"""Credentials: azure-identity for Microsoft, an unsigned static token for the simulator."""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from settings import DEMO_GRAPH_CLIENT_ID, Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"  # a managed identity's assertion
TOKEN_TIMEOUT_S = 30.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context for its httpx clients (connectors.graph's, the token requests'),
    as httpx builds it by default. Built per client it loads the CA bundle each time: ~40 ms of the
    event loop per tenant and cycle (bench/collect.py)."""
    return httpx.create_ssl_context()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StaticTokenCredential:
    """Hands out an unsigned JWT naming one tenant (``tid``), as the simulator expects.

    Implements azure-core's TokenCredential protocol, so the Graph SDK uses it like any other.
    """

    def __init__(self, tenant_id: str, audience: str = "https://graph.microsoft.com") -> None:
        self.tenant_id = tenant_id
        self.audience = audience

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        expires = int(time.time()) + 3600
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = _b64url(
            json.dumps(
                {
                    "tid": tenant_id or self.tenant_id,
                    "aud": self.audience,
                    "exp": expires,
                    "iss": "perimeter-demo",
                    "roles": ["Directory.Read.All"],
                }
            ).encode()
        )
        return AccessToken(f"{header}.{payload}.", expires)

    def close(self) -> None:  # TokenCredential protocol
        pass


class SimulatorCredential:
    """Client credentials against the simulator's token endpoint (``POST {url}/{tenant}/oauth2/v2.0/
    token``), as azure-identity asks Entra ID: the token names the tenant, and a tenant where the app
    is not consented fails here with Entra's AADSTS answer, raised as azure-identity raises it
    (``ClientAuthenticationError``). The token is kept until shortly before it expires.

    Async, as azure.identity.aio's credentials are: a token request never stalls the event loop, and a
    kept token is handed out without leaving it. One request at a time per credential: a tenant's
    concurrent requests wait for the first one's token instead of asking again."""

    def __init__(self, simulator_url: str, tenant_id: str, client_id: str) -> None:
        self.url = f"{simulator_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self.client_id = client_id
        self._token: AccessToken | None = None
        # asyncio.Lock binds to the loop that first waits on it; the credential outlives a cycle's loop.
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def _kept(self) -> AccessToken | None:
        token = self._token
        return token if token is not None and token.expires_on > time.time() + 300 else None

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        token = self._kept()
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            token = self._kept()  # fetched while this request waited
            if token is None:
                token = self._token = await self._fetch(scopes)
            return token

    async def _fetch(self, scopes: tuple[str, ...]) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": "demo",
            "scope": " ".join(scopes) or GRAPH_SCOPE,
        }
        try:
            # A client of its own per fetch (once an hour per tenant): pooled connections belong to
            # the loop that opened them.
            async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT_S, verify=tls_context()) as client:
                reply = await client.post(self.url, data=form)
            if reply.is_error:
                try:
                    description = reply.json().get("error_description") or ""
                except (ValueError, AttributeError):
                    description = ""
                raise ClientAuthenticationError(
                    message=f"Authentication failed: {description or f'HTTP {reply.status_code}'}"
                )
            document = reply.json()
            return AccessToken(
                document["access_token"], int(time.time()) + int(document.get("expires_in", 3599))
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise ClientAuthenticationError(message=f"token request failed: {error}") from None

    async def close(self) -> None:  # TokenCredential protocol (async, as azure.identity.aio's)
        pass


def graph_credential(settings: Settings, tenant_id: str) -> TokenCredential:
    """A new credential for Graph in ``tenant_id`` (the MSP's app, consented there through GDAP):
    async from azure.identity.aio in production. Use shared_graph_credential, which keeps one."""
    if settings.demo_mode:
        return SimulatorCredential(settings.simulator_url, tenant_id, DEMO_GRAPH_CLIENT_ID)
    if settings.graph_use_managed_identity:
        return _managed_identity_credential(settings, tenant_id)
    from azure.core.pipeline.transport import AsyncioRequestsTransport
    from azure.identity.aio import CertificateCredential, ClientSecretCredential

    # azure-identity's async credentials, so a token request never blocks the event loop. Their
    # default transport (aiohttp) is bound to the loop that first used it; this one is not, and a
    # credential outlives the cycle's loop (shared_graph_credential).
    transport = AsyncioRequestsTransport()
    if settings.graph_certificate_path is not None:
        password = settings.graph_certificate_password
        return CertificateCredential(
            tenant_id,
            settings.graph_client_id,
            certificate_path=str(settings.graph_certificate_path),
            password=password.get_secret_value() if password else None,
            transport=transport,
        )
    assert settings.graph_client_secret is not None  # guaranteed by Settings validation
    return ClientSecretCredential(
        tenant_id,
        settings.graph_client_id,
        settings.graph_client_secret.get_secret_value(),
        transport=transport,
    )


def _managed_identity_credential(settings: Settings, tenant_id: str) -> Any:
    """The app in ``tenant_id`` with a managed identity's token as its client assertion (the app
    registration holds a federated credential trusting the identity): no secret anywhere. A managed
    identity alone reaches only its own tenant; this reaches every tenant the app is consented in.
    Synchronous azure-identity classes, run off the event loop by ThreadedCredential."""
    from azure.identity import ClientAssertionCredential, ManagedIdentityCredential

    identity = _shared(
        ("managed-identity", settings.graph_managed_identity_client_id),
        lambda: ManagedIdentityCredential(client_id=settings.graph_managed_identity_client_id or None),
    )

    def assertion() -> str:
        return identity.get_token(TOKEN_EXCHANGE_SCOPE).token

    return ClientAssertionCredential(tenant_id, settings.graph_client_id, assertion)


def cipp_credential(settings: Settings) -> TokenCredential:
    """Client-credentials token for the CIPP-API (scope ``api://<client id>/.default``)."""
    if settings.demo_mode:
        return StaticTokenCredential(settings.msp_tenant_id, audience=f"api://{settings.cipp_client_id}")
    from azure.identity import ClientSecretCredential

    assert settings.cipp_client_secret is not None
    return ClientSecretCredential(
        settings.msp_tenant_id, settings.cipp_client_id, settings.cipp_client_secret.get_secret_value()
    )


def cipp_scope(settings: Settings) -> str:
    """CIPP sets each enabled API client's allowed audience to ``api://<client id>``: the token is asked
    for that same client (REFERENCE "CIPP-API tokens"), not for CIPP's own app registration."""
    return f"api://{settings.cipp_client_id}/.default"


# --- one credential per tenant, for the life of the process -----------------------------------------
# A credential caches its tokens until they expire: built afresh per tenant and cycle, every cycle
# would sign in to every tenant again. Keyed by everything that chooses the credential, so a
# process (or a test) that changes its settings gets a new one.

_credentials: dict[tuple[str, ...], Any] = {}
_credentials_lock = threading.RLock()  # a credential's builder may take a shared one too


class ThreadedCredential:
    """An async face for a synchronous credential: ``get_token`` runs in a worker thread, never on
    the event loop, one call at a time (the credential's own token cache then answers the rest). The
    token it answered is handed out again until shortly before it expires without going to a thread:
    kiota asks for a token before every request."""

    def __init__(self, credential: Any) -> None:
        self.credential = credential
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], AccessToken] = {}

    def _get_token(self, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> AccessToken:
        with self._lock:
            return self.credential.get_token(*scopes, **kwargs)

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        # A claims challenge (CAE) asks for a new token: never answered from what is kept.
        key = None if kwargs.get("claims") else (scopes, tuple(sorted(kwargs.items(), key=str)))
        try:
            token = self._kept.get(key) if key is not None else None
        except TypeError:  # an option that cannot be a key: asked every time
            key = token = None
        if token is not None and token.expires_on > time.time() + 300:
            return token
        token = await asyncio.to_thread(self._get_token, scopes, kwargs)
        if key is not None:
            self._kept[key] = token
        return token

    async def close(self) -> None:
        self._kept.clear()
        await _close(self.credential)


async def _close(credential: Any) -> None:
    close = getattr(credential, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


def _shared(key: tuple[str, ...], build: Callable[[], Any]) -> Any:
    with _credentials_lock:
        credential = _credentials.get(key)
        if credential is None:
            credential = _credentials[key] = build()
        return credential


def shared_graph_credential(settings: Settings, tenant_id: str) -> Any:
    """The process's one async credential for Graph in ``tenant_id`` (connectors.graph.TenantGraph
    builds every Graph client with it)."""
    key = (
        "graph",
        tenant_id.lower(),
        settings.graph_base_url,
        settings.graph_client_id,
        str(settings.graph_certificate_path or ""),
        str(settings.graph_use_managed_identity),
        settings.graph_managed_identity_client_id,
    )

    def build() -> Any:
        credential = graph_credential(settings, tenant_id)
        if inspect.iscoroutinefunction(credential.get_token):
            return credential
        return ThreadedCredential(credential)

    return _shared(key, build)


def shared_cipp_credential(settings: Settings) -> Any:
    """The process's one credential for the CIPP-API (synchronous; connectors.cipp asks it in a
    worker thread)."""
    key = ("cipp", settings.cipp_api_url, settings.msp_tenant_id, settings.cipp_client_id)
    return _shared(key, lambda: cipp_credential(settings))


async def close_credentials() -> None:
    """Close and forget every shared credential (the worker does this when it stops)."""
    with _credentials_lock:
        credentials = list(_credentials.values())
        _credentials.clear()
    for credential in credentials:
        try:
            await _close(credential)
        except Exception:  # noqa: BLE001 - closing is best effort; the process is stopping
            pass
