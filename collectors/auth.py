"""Credentials: azure-identity for Microsoft, an unsigned static token for the simulator."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

from settings import Settings

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


def graph_credential(settings: Settings, tenant_id: str) -> TokenCredential:
    """A credential for Graph in ``tenant_id`` (the MSP's app, consented there through GDAP)."""
    if settings.demo_mode:
        return StaticTokenCredential(tenant_id)
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
