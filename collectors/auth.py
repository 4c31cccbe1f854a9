"""Credentials: azure-identity for Microsoft, an unsigned static token for the simulator."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

from settings import DEMO_GRAPH_CLIENT_ID, Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StaticTokenCredential:
    """Hands out an unsigned JWT naming one tenant (``tid``), as the simulator expects.

    Implements azure-core's TokenCredential protocol, so the Graph SDK uses it like any other.
    """

    def __init__(self, tenant_id: str, audience: str = "https://graph.microsoft.com") -> None:
        self.tenant_id = tenant_id
        self.audience = audience

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        expires = int(time.time()) + 3600
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({
            "tid": tenant_id or self.tenant_id, "aud": self.audience, "exp": expires,
            "iss": "perimeter-demo", "roles": ["Directory.Read.All"],
        }).encode())
        return AccessToken(f"{header}.{payload}.", expires)

    def close(self) -> None:  # TokenCredential protocol
        pass


class SimulatorCredential:
    """Client credentials against the simulator's token endpoint (``POST {url}/{tenant}/oauth2/v2.0/
    token``), as azure-identity asks Entra ID: the token names the tenant, and a tenant where the app
    is not consented fails here with Entra's AADSTS answer, raised as azure-identity raises it
    (``ClientAuthenticationError``). The token is kept until shortly before it expires."""

    def __init__(self, simulator_url: str, tenant_id: str, client_id: str) -> None:
        self.url = f"{simulator_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self.client_id = client_id
        self._token: AccessToken | None = None

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        if self._token is not None and self._token.expires_on > time.time() + 300:
            return self._token
        import urllib.error
        import urllib.parse
        import urllib.request

        from azure.core.exceptions import ClientAuthenticationError

        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": self.client_id, "client_secret": "demo",
                                       "scope": " ".join(scopes) or GRAPH_SCOPE}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url, data=form), timeout=30) as reply:
                document = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            try:
                description = json.loads(error.read()).get("error_description") or ""
            except ValueError:
                description = ""
            raise ClientAuthenticationError(
                message=f"Authentication failed: {description or f'HTTP {error.code}'}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ClientAuthenticationError(message=f"token request failed: {error}") from None
        self._token = AccessToken(document["access_token"],
                                  int(time.time()) + int(document.get("expires_in", 3599)))
        return self._token

    def close(self) -> None:  # TokenCredential protocol
        pass


def graph_credential(settings: Settings, tenant_id: str) -> TokenCredential:
    """A credential for Graph in ``tenant_id`` (the MSP's app, consented there through GDAP)."""
    if settings.demo_mode:
        return SimulatorCredential(settings.simulator_url, tenant_id, DEMO_GRAPH_CLIENT_ID)
    from azure.identity import CertificateCredential, ClientSecretCredential

    if settings.graph_certificate_path is not None:
        return CertificateCredential(tenant_id, settings.graph_client_id,
                                     certificate_path=str(settings.graph_certificate_path))
    assert settings.graph_client_secret is not None  # guaranteed by Settings validation
    return ClientSecretCredential(tenant_id, settings.graph_client_id,
                                  settings.graph_client_secret.get_secret_value())


def cipp_credential(settings: Settings) -> TokenCredential:
    """Client-credentials token for the CIPP-API (scope ``api://<app id>/.default``)."""
    if settings.demo_mode:
        return StaticTokenCredential(settings.msp_tenant_id, audience=f"api://{settings.cipp_app_id}")
    from azure.identity import ClientSecretCredential

    assert settings.cipp_client_secret is not None
    return ClientSecretCredential(settings.msp_tenant_id, settings.cipp_client_id,
                                  settings.cipp_client_secret.get_secret_value())


def cipp_scope(settings: Settings) -> str:
    return f"api://{settings.cipp_app_id}/.default"
