"""The one Graph client factory: msgraph-sdk's GraphRequestAdapter (retry, redirect and header
middleware) with an azure-identity credential, pointed at Microsoft or at the simulator.

Everything is read through the adapter's raw-bytes path and parsed with orjson (sign-in pages with
msgspec, db.rows): the collectors store Graph's own JSON (the snapshot format), and SDK models are far
too slow for sign-ins and lossy on write (REFERENCE.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
import orjson
from kiota_abstractions.api_error import APIError
from kiota_abstractions.method import Method
from kiota_abstractions.native_response_handler import NativeResponseHandler
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import ResponseHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory

from connectors.auth import GRAPH_SCOPE, shared_graph_credential, tls_context
from connectors.pacing import MAX_ATTEMPTS, Pacer, backoff_delay, family_of
from connectors.sources import GraphSource
from db.rows import NOT_JSON, MalformedPage, decode_signin_page, parse_json, use_parsed_json
from settings import Settings

REQUEST_TIMEOUT_S = 60.0
# A page that is empty but carries a nextLink is legal; a long run of them is a server loop.
MAX_CONSECUTIVE_EMPTY_PAGES = 50
# Member lists read at once per tenant (each still waits for its slot in the pacing policy).
MEMBER_READS_AT_ONCE = 4
# Keep OData punctuation readable in URLs (Graph accepts both forms).
_QUERY_SAFE = "$,:()/'"
WHAT_IF_PATH = "identity/conditionalAccess/evaluate"
T = TypeVar("T")


class GraphError(Exception):
    """A Graph request failed for good; ``str()`` is one line for the run record."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code  # Graph's error code, when the answer carried one


def _odata_error_class():  # type: ignore[no-untyped-def]
    # Imported lazily: the first Entity-derived import costs about a second.
    from kiota_abstractions.api_client_builder import register_default_deserializer
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    # Without a JSON parse node (GraphServiceClient registers one; the bare adapter does not) Graph's
    # error body is never read and its code is lost: the code is what tells a missing licence
    # (Authentication_RequestFromNonPremiumTenantOrB2CTenant) from an outage (collectors.states).
    register_default_deserializer(JsonParseNodeFactory)
    return ODataError


def describe_api_error(error: Exception) -> GraphError:
    status = getattr(error, "response_status_code", None)
    inner = getattr(error, "error", None)
    code = getattr(inner, "code", None)
    message = getattr(inner, "message", None)
    if code or message:
        text = f"HTTP {status}: {code or 'error'}: {message or ''}".strip()
    else:
        text = f"HTTP {status}: {getattr(error, 'message', None) or error}"
    return GraphError(" ".join(text.split()), status)


class TenantGraph:
    """Graph as seen from one tenant (the bearer token chooses it)."""

    def __init__(self, settings: Settings, tenant_id: str, pacer: Pacer) -> None:
        self.tenant_id = tenant_id
        self.pacer = pacer
        self.root = settings.graph_base_url
        self._http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, verify=tls_context())
        )
        auth = AzureIdentityAuthenticationProvider(
            shared_graph_credential(settings, tenant_id), scopes=[GRAPH_SCOPE]
        )
        self.adapter = GraphRequestAdapter(auth, client=self._http)
        self.adapter.base_url = f"{self.root}/v1.0"
        self.requests = 0

    async def __aenter__(self) -> TenantGraph:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    def url(self, path: str, params: dict[str, str] | None = None, version: str = "v1.0") -> str:
        query = "?" + urlencode(params, safe=_QUERY_SAFE) if params else ""
        return f"{self.root}/{version}/{path.lstrip('/')}{query}"

    async def _get_bytes(self, url: str) -> bytes:
        info = RequestInformation(Method.GET)
        info.url = url
        info.headers.try_add("Accept", "application/json")
        self.requests += 1
        try:
            async with self.pacer.slot(self.tenant_id, family_of(url)):
                body = await self.adapter.send_primitive_async(
                    info, "bytes", {"XXX": _odata_error_class()}
                )  # the class: kiota parses with it
        except APIError as error:
            raise describe_api_error(error) from None
        except httpx.HTTPError as error:
            raise GraphError(f"network error: {type(error).__name__}: {error}") from None
        return body or b""

    async def _get_decoded(self, url: str, decode: Callable[[bytes], T]) -> T:
        """GET one document and ``decode`` its body. A body that is not JSON (cut off in transit) is
        fetched again; the SDK's middleware already retried 429/503/504."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            body = await self._get_bytes(url)
            try:
                return decode(body)
            except NOT_JSON as error:
                if attempt == MAX_ATTEMPTS:
                    raise GraphError(
                        f"malformed JSON from {url.split('?')[0]} after {attempt} tries: {error}"
                    ) from None
                await asyncio.sleep(backoff_delay(attempt))
        raise AssertionError("unreachable")

    async def get_json(self, url: str, use: Callable[[Any], Any] | None = None) -> Any:
        """GET one document; with ``use``, return ``use(document)`` instead, run while the cycle
        collector is paused and the document freed before it resumes (db.rows.use_parsed_json)."""
        if use is None:
            return await self._get_decoded(url, parse_json)
        return await self._get_decoded(url, lambda body: use_parsed_json(body, use))

    async def _follow_pages(
        self, url: str | None, path: str, read_page: Callable[[bytes], tuple[bool, str | None]]
    ) -> None:
        """Fetch pages while there is an absolute ``@odata.nextLink`` (across empty pages).
        ``read_page`` returns (had values, next link)."""
        empty_run = 0
        while url:
            had_values, url = await self._get_decoded(url, read_page)
            empty_run = 0 if had_values else empty_run + 1
            if empty_run > MAX_CONSECUTIVE_EMPTY_PAGES:
                raise GraphError(f"{path}: {empty_run} empty pages in a row, stopping")

    async def each_page(
        self, path: str, params: dict[str, str] | None, version: str, use: Callable[[list[Any]], object]
    ) -> None:
        """Call ``use`` with each page's non-empty ``value``. ``use`` runs while the page is parsed
        and alive only then, so the cycle collector never walks it."""

        def take(document: Any) -> tuple[bool, str | None]:
            if not isinstance(document, dict) or not isinstance(document.get("value"), list):
                raise GraphError(f"unexpected page shape from {path}: no 'value' list")
            values = document["value"]
            if values:
                use(values)
            next_link = document.get("@odata.nextLink")
            return bool(values), next_link if isinstance(next_link, str) and next_link else None

        await self._follow_pages(
            self.url(path, params, version), path, lambda body: use_parsed_json(body, take)
        )

    async def each_signin_page(self, params: dict[str, str], use: Callable[[bytes], object]) -> None:
        """Call ``use`` with the body of each non-empty page of beta sign-ins, as sent, once its shape
        is checked (db.rows.decode_signin_page: what db.signin_pipeline.SigninPipeline.submit takes)."""
        path = "auditLogs/signIns"

        def take(body: bytes) -> tuple[bool, str | None]:
            try:
                page = decode_signin_page(body)
            except MalformedPage as error:
                raise GraphError(f"unexpected page shape from {path}: {error}") from None
            if page.value:
                use(body)
            return bool(page.value), page.next_link or None

        await self._follow_pages(self.url(path, params, "beta"), path, take)

    async def all(self, path: str, params: dict[str, str] | None = None, version: str = "v1.0") -> list[Any]:
        out: list[Any] = []
        await self.each_page(path, params, version, out.extend)
        return out

    async def collection(self, source: GraphSource) -> list[Any]:
        """A collection source read whole: its objects, and with ``member_params`` each object's
        complete ``members`` (connectors.sources.GraphSource)."""
        objects = await self.all(source.path, source.params)
        if source.member_params is not None:
            await self.fill_members(source.path, objects, source.member_params)
        return objects

    async def fill_members(self, path: str, objects: list[Any], params: dict[str, str]) -> None:
        """Set each object's ``members`` to every page of ``{path}/{id}/members``. An object deleted
        since it was listed (404) is dropped; any other failure fails the whole read."""
        limit = asyncio.Semaphore(MEMBER_READS_AT_ONCE)
        gone: list[int] = []

        async def read(index: int, obj: Any) -> None:
            object_id = obj.get("id") if isinstance(obj, dict) else None
            if not isinstance(object_id, str) or not object_id:
                return  # left without members: the checks then say membership is unknown
            obj.pop("members", None)
            obj.pop("members@odata.nextLink", None)
            async with limit:
                try:
                    obj["members"] = await self.all(
                        f"{path}/{quote(object_id, safe='')}/members", params or None
                    )
                except GraphError as error:
                    if error.status != 404:
                        raise
                    gone.append(index)

        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other reads
                for index, obj in enumerate(objects):
                    group.create_task(read(index, obj))
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None  # one line for the run record
        for index in sorted(gone, reverse=True):
            del objects[index]

    async def send_json(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        """One write (PATCH, POST, DELETE) with a raw JSON body, through the same middleware and
        pacing as reads. Returns (HTTP status, parsed body or None); a Graph error comes back as
        its status and error JSON instead of raising, so the fix engine can record it.

        Raw JSON on purpose: serialising SDK models drops multi-value enums such as
        ``guestOrExternalUserTypes`` (REFERENCE.md, "Write bug")."""
        info = RequestInformation(Method[method.upper()])
        info.url = url
        info.headers.try_add("Accept", "application/json")
        if body is not None:
            info.set_stream_content(orjson.dumps(body), "application/json")
        # The native response handler hands back the httpx response (status included) instead of
        # raising on 4xx/5xx; the retry middleware still runs before it.
        info.add_request_options([ResponseHandlerOption(NativeResponseHandler())])
        self.requests += 1
        try:
            async with self.pacer.slot(self.tenant_id, family_of(url)):
                response = await self.adapter.send_primitive_async(info, "bytes", {})
        except httpx.HTTPError as error:
            raise GraphError(f"network error: {type(error).__name__}: {error}") from None
        content = response.content or b""
        try:
            document = orjson.loads(content) if content.strip() else None
        except orjson.JSONDecodeError:
            document = None
        return response.status_code, document

    async def evaluate_conditional_access(self, body: dict[str, Any]) -> list[Any]:
        """Graph's Conditional Access what-if (beta ``POST identity/conditionalAccess/evaluate``,
        permission Policy.Read.ConditionalAccess or Policy.Read.All): the ``whatIfAnalysisResult``
        collection for the sign-in ``body`` describes (investigate.whatif.request_body). Paced as
        Conditional Access (1 request/s per tenant); a refusal raises GraphError with its status and
        Graph's code (a missing licence, a missing permission, a bad body)."""
        status, document = await self.send_json("POST", self.url(WHAT_IF_PATH, version="beta"), body)
        if status == 200 and isinstance(document, dict) and isinstance(document.get("value"), list):
            return list(document["value"])
        error = document.get("error") if isinstance(document, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if status == 200:
            raise GraphError(f"unexpected answer shape from {WHAT_IF_PATH}: no 'value' list", status)
        text = f"HTTP {status}: {code or 'error'}: {message or ''}".strip()
        raise GraphError(" ".join(text.split()), status, code if isinstance(code, str) else None)
