"""CIPP-API over httpx with an OAuth client-credentials token (from azure-identity)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from connectors.auth import cipp_scope, shared_cipp_credential
from connectors.pacing import MAX_ATTEMPTS, Pacer, backoff_delay
from settings import Settings

RETRY_STATUSES = {429, 500, 502, 503, 504}


class CippError(Exception):
    """A CIPP-API call failed for good; ``str()`` is one line."""


class CippClient:
    def __init__(self, settings: Settings, pacer: Pacer) -> None:
        self.base = settings.cipp_api_url.rstrip("/")
        self.credential = shared_cipp_credential(settings)  # kept across cycles, with its token
        self.scope = cipp_scope(settings)
        self.pacer = pacer
        self.tenant_key = f"cipp:{settings.msp_tenant_id}"
        self._http = httpx.AsyncClient(timeout=60.0)

    async def __aenter__(self) -> CippClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, endpoint: str, params: dict[str, str] | None = None, json_body: Any = None
    ) -> Any:
        return (await self._exchange(method, endpoint, params, json_body))[1]

    async def _exchange(
        self, method: str, endpoint: str, params: dict[str, str] | None = None, json_body: Any = None
    ) -> tuple[int, Any]:
        """(HTTP status, parsed body or None), retrying transient failures; raises for the rest."""
        url = f"{self.base}/api/{endpoint}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            # azure-identity caches the token; calling per request keeps it fresh.
            token = await asyncio.to_thread(self.credential.get_token, self.scope)
            try:
                async with self.pacer.slot(self.tenant_key, "cipp"):
                    response = await self._http.request(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers={"Authorization": f"Bearer {token.token}"},
                    )
            except httpx.HTTPError as error:
                if attempt == MAX_ATTEMPTS:
                    raise CippError(f"{endpoint}: network error: {type(error).__name__}") from None
                await asyncio.sleep(backoff_delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
                retry_after = response.headers.get("Retry-After")
                await asyncio.sleep(
                    backoff_delay(
                        attempt, float(retry_after) if retry_after and retry_after.isdigit() else None
                    )
                )
                continue
            if response.status_code >= 400:
                raise CippError(f"{endpoint}: HTTP {response.status_code}")
            if not response.content.strip():
                return response.status_code, None  # CIPP answers an empty body for "no clients"
            try:
                return response.status_code, orjson.loads(response.content)
            except orjson.JSONDecodeError:
                if attempt == MAX_ATTEMPTS:
                    raise CippError(f"{endpoint}: malformed JSON") from None
                await asyncio.sleep(backoff_delay(attempt))
        raise AssertionError("unreachable")

    async def api_clients(self) -> list[Any]:
        """`ExecApiClient?Action=List` Results, verbatim (stray strings included)."""
        document = await self._request("GET", "ExecApiClient", {"Action": "List"})
        results = document.get("Results") if isinstance(document, dict) else None
        return results if isinstance(results, list) else []

    async def azure_configuration(self) -> dict[str, Any]:
        document = await self._request("GET", "ExecApiClient", {"Action": "GetAzureConfiguration"})
        results = document.get("Results") if isinstance(document, dict) else None
        return results if isinstance(results, dict) else {}

    async def tenants(self) -> list[Any]:
        """`ListTenants` rows. CIPP answers an internal error with HTTP 200 and one row whose
        ``customerId`` is empty and whose text fields carry the error (REFERENCE.md): that row, or
        an answer that is not a list of rows, raises CippError, never reads as "no tenants"."""
        document = await self._request("GET", "ListTenants")
        if isinstance(document, dict) and isinstance(document.get("Results"), list):
            document = document["Results"]  # some CIPP versions wrap rows in Results
        if not isinstance(document, list):
            raise CippError(f"ListTenants: not a list of tenants ({type(document).__name__})")
        for row in document:
            if not isinstance(row, dict) or not row.get("customerId"):
                raise CippError(f"ListTenants: {_error_text(row)}")
        return document

    async def add_update_client(self, body: dict[str, Any]) -> tuple[int, Any]:
        """`ExecApiClient?Action=AddUpdate`: CIPP answers 200 with a bare array of result strings
        (one "'x' is not a valid IP address or CIDR range." per rejected range)."""
        return await self._exchange("POST", "ExecApiClient", {"Action": "AddUpdate"}, body)

    async def save_to_azure(self) -> tuple[int, Any]:
        """`ExecApiClient?Action=SaveToAzure`: push the enabled client ids to the Function App's
        authentication (not the IP ranges, which CIPP checks on every request)."""
        return await self._exchange(
            "POST", "ExecApiClient", {"Action": "SaveToAzure"}, {"Action": "SaveToAzure"}
        )


def _error_text(row: Any) -> str:
    """What CIPP's error row says (its ``Results``, else its ``displayName``), on one line."""
    if isinstance(row, dict):
        for key in ("Results", "displayName", "defaultDomainName"):
            text = row.get(key)
            if isinstance(text, str) and text.strip():
                return " ".join(text.split())[:300]
        return "a row without a customerId"
    return f"a row that is not an object ({type(row).__name__})"
