"""The HTTP layer: authentication by bearer token, faults, throttling, Graph/CIPP/admin dispatch."""

from __future__ import annotations

import base64
import json
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from simulator import audits, cipp, demo, graph, odata, whatif
from simulator.signins import Record

if TYPE_CHECKING:
    from simulator.app import Simulator

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
MAX_BODY = 4 * 1024 * 1024


def make_token(
    tenant_id: str, audience: str = "https://graph.microsoft.com", lifetime: int = 3600, **claims: Any
) -> str:
    """An unsigned JWT (alg none) of the kind the simulator accepts: what a demo credential hands out."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    payload = {"aud": audience, "tid": tenant_id, "iat": now, "nbf": now, "exp": now + lifetime, **claims}
    return f"{part({'typ': 'JWT', 'alg': 'none'})}.{part(payload)}."


def read_token(header: str | None) -> dict | None:
    """The JWT payload of an `Authorization: Bearer` header, or None when missing or garbled."""
    if not header or not header[:7].lower() == "bearer ":
        return None
    parts = header[7:].strip().split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def iso_now(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog (socketserver's default is 5): a collector opening 64 tenants' connections at
    # once overflows 5, and a connection the kernel then leaves half-open answers nothing for a minute.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: Simulator):
        self.sim = sim
        super().__init__(address, SimRequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK and httpx reuse connections
    server: SimHTTPServer
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        if self.server.sim.config.log_requests:
            super().log_message(format, *args)

    # Every method goes through one dispatcher.
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    # --- plumbing -------------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = GRAPH_CONTENT_TYPE,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _graph_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        request_id = str(uuid.uuid4())
        client_request_id = self.headers.get("client-request-id") or request_id
        body = {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": iso_now(time.time()),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        }
        all_headers = {"request-id": request_id, "client-request-id": client_request_id, **(headers or {})}
        self._send(status, json.dumps(body).encode(), headers=all_headers)

    def _json(self, status: int, data: Any, content_type: str = JSON_CONTENT_TYPE) -> None:
        self._send(status, b"" if data is None else json.dumps(data).encode(), content_type)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        try:
            url = urlsplit(self.path)
            body = self._read_body()
            params = parse_qsl(url.query, keep_blank_values=True)
            path = url.path
            if path.startswith("/_sim/"):
                self._admin(path, body)
            elif path.startswith(("/v1.0/", "/beta/")):
                version, _, rest = path[1:].partition("/")
                self._graph(version, rest, params, body)
            elif path.lower().startswith("/cipp/"):
                self._cipp(path, params, body)
            elif path.lower().endswith("/oauth2/v2.0/token") and path.count("/") == 4:
                self._token(path.split("/")[1], body)
            else:
                self._graph_error(400, "BadRequest", f"Invalid version: {path.strip('/').split('/')[0]}")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # a simulator bug must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            try:
                self._graph_error(500, "InternalServerError", "The simulator failed to handle this request.")
            except OSError:
                pass

    # --- shared fault handling ------------------------------------------------------------------

    def _pre_faults(self, path: str, tenant_id: str, graph_call: bool) -> bool:
        """Apply revoked/status/delay faults; True when a response was already sent."""
        sim = self.server.sim
        if graph_call and sim.faults.pick(path, tenant_id, ("revoked",)):
            self._fault_fired()
            self._graph_error(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
            return True
        fault = sim.faults.pick(path, tenant_id, ("status",))
        if fault:
            self._fault_fired()
            headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
            code = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(
                fault.status, "UnknownError"
            )
            self._graph_error(fault.status, code, "Injected fault.", headers)
            return True
        fault = sim.faults.pick(path, tenant_id, ("delay",))
        if fault:
            self._fault_fired()
            time.sleep(fault.ms / 1000)
        return False

    def _fault_fired(self) -> None:
        state = self.server.sim.state
        with state.lock:
            state.faults_fired += 1

    def _maybe_truncate(self, path: str, tenant_id: str, payload: bytes) -> bytes:
        if payload and self.server.sim.faults.pick(path, tenant_id, ("truncate",)):
            self._fault_fired()
            return payload[: len(payload) // 2]
        return payload

    # --- Graph ----------------------------------------------------------------------------------

    def _graph(self, version: str, rest: str, params: list[tuple[str, str]], body: bytes) -> None:
        sim = self.server.sim
        state = sim.state
        claims = read_token(self.headers.get("Authorization"))
        if claims is None:
            self._graph_error(401, "InvalidAuthenticationToken", "Access token is empty or not a valid JWT.")
            return
        tenant_id = str(claims.get("tid") or "").lower()
        if tenant_id not in state.tenants:
            self._graph_error(
                401,
                "InvalidAuthenticationToken",
                f"Access token validation failure: unknown tenant '{claims.get('tid')}'.",
            )
            return
        audience = claims.get("aud")
        if audience is not None and audience not in demo.GRAPH_AUDIENCES:
            self._graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            )
            return
        expires = claims.get("exp")
        if isinstance(expires, (int, float)) and expires < time.time() - 300:
            self._graph_error(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
            return
        path = "/" + version + "/" + rest
        try:
            resolved = graph.resolve(self.command, rest) or whatif.resolve(self.command, rest)
        except graph.GraphError as exc:
            self._graph_error(exc.status, exc.code, exc.message)
            return
        if resolved is None:
            segment = rest.strip("/").split("/")[0]
            self._graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
            return
        handler, match = resolved
        family = graph.family_of(rest)
        state.count(tenant_id, family)
        if self._pre_faults(path, tenant_id, graph_call=True):
            return

        expand = any(k.lower().lstrip("$") == "expand" for k, _ in params)
        select = any(k.lower().lstrip("$") == "select" for k, _ in params)
        cost = 1 + int(expand) + int(rest.lower().startswith("users") and not select)
        decision = sim.throttler.check(family, tenant_id, cost)
        if not decision.allowed:
            state.count(tenant_id, family, throttled=True)
            headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after is not None else {}
            self._graph_error(429, "TooManyRequests", "Too many requests.", headers)
            return

        req = graph.Request(
            self.command,
            version,
            rest.strip("/"),
            params,
            body,
            tenant_id,
            self.server.base_url,
            match,
            client_id=str(claims.get("appid") or "") or None,
        )
        audits.catch_up(state)  # the demo's scheduled drift happens before anything reads the tenant
        try:
            result = handler(state, req)
        except graph.GraphError as exc:
            self._graph_error(exc.status, exc.code, exc.message, exc.headers)
            return
        except odata.ODataError as exc:
            self._graph_error(400, exc.code, str(exc))
            return
        request_id = str(uuid.uuid4())
        headers = {
            "request-id": request_id,
            "client-request-id": self.headers.get("client-request-id") or request_id,
        }
        if isinstance(result, graph.Collection):
            empty = sim.faults.pick(path, tenant_id, ("emptyPage",)) is not None
            if empty:
                self._fault_fired()
            payload = self._render_collection(req, result, empty)
            self._send(200, self._maybe_truncate(path, tenant_id, payload), headers=headers)
            return
        payload = b"" if result.body is None else json.dumps(result.body).encode()
        self._send(
            result.status,
            self._maybe_truncate(path, tenant_id, payload),
            headers={**headers, **result.headers},
        )

    @staticmethod
    def _render_collection(req: graph.Request, col: graph.Collection, empty: bool) -> bytes:
        base = f"{req.base_url}/{req.version}/{req.path}"
        token = col.here_token if empty else col.next_token
        parts = [b'{"@odata.context":', json.dumps(col.context).encode()]
        if token:
            parts += [b',"@odata.nextLink":', json.dumps(odata.build_link(base, req.params, token)).encode()]
        parts.append(b',"value":[')
        if not empty:
            parts.append(
                b",".join(i.body if isinstance(i, Record) else json.dumps(i).encode() for i in col.items)
            )
        parts.append(b"]}")
        return b"".join(parts)

    # --- Entra ID token endpoint ----------------------------------------------------------------

    def _token_error(self, status: int, error: str, code: int, description: str) -> None:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        self._json(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
        )

    def _token(self, tenant: str, body: bytes) -> None:
        """`POST /{tenant}/oauth2/v2.0/token` (client credentials), as Entra ID answers it: a
        token naming the tenant (`tid`) and the scope's resource (`aud`), or the AADSTS error. A
        tenant where Perimeter's app was never consented fails here (AADSTS700016), before Graph."""
        if self.command != "POST":
            self._token_error(
                405,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests. Received a GET request.",
            )
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials":
            self._token_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
            return
        tenant_id = tenant.lower()
        if tenant_id not in self.server.sim.state.tenants:
            self._token_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to "
                "make sure you have the correct tenant ID and are signing into the "
                "correct cloud.",
            )
            return
        if not demo.consented(tenant_id):
            self._token_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You may have sent your authentication request to "
                "the wrong tenant.",
            )
            return
        scope = form.get("scope", "").split(" ")[0]
        audience = scope.removesuffix("/.default") or "https://graph.microsoft.com"
        lifetime = 3599
        token = make_token(tenant_id, audience, lifetime + 1, appid=client_id, roles=["Directory.Read.All"])
        with self.server.sim.state.lock:
            self.server.sim.state.tokens[tenant_id] += 1
        self._json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            },
        )

    # --- CIPP -----------------------------------------------------------------------------------

    def _cipp(self, path: str, params: list[tuple[str, str]], body: bytes) -> None:
        sim = self.server.sim
        claims = read_token(self.headers.get("Authorization"))
        # CIPP's Function App accepts a token whose audience is api://<client id> of a client saved
        # to its Azure configuration (CIPP sets each enabled client's allowed audience so).
        with sim.state.lock:
            audiences = {f"api://{client_id}".lower() for client_id in sim.state.azure_client_ids}
        if (
            claims is None
            or str(claims.get("tid", "")).lower() != demo.MSP_TENANT_ID
            or str(claims.get("aud", "")).lower() not in audiences
        ):
            self._send(401, b"You do not have permission to view this directory or page.", "text/html")
            return
        sim.state.count(demo.MSP_TENANT_ID, "cipp")
        if self._pre_faults(path, demo.MSP_TENANT_ID, graph_call=False):
            return
        endpoint = path.rstrip("/").rsplit("/", 1)[-1].lower()
        data: dict = {}
        if body:
            try:
                parsed = json.loads(body)
                data = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                data = {}
        if endpoint == "execapiclient":
            query = {k.lower(): v for k, v in params}
            action = query.get("action") or data.get("Action") or ""
            result: Any
            if action == "List":
                result = cipp.list_clients(sim.state)
            elif action == "GetAzureConfiguration":
                result = cipp.azure_configuration(sim.state)
            elif action == "AddUpdate":
                result = cipp.add_update(sim.state, data)
            elif action == "SaveToAzure":
                result = cipp.save_to_azure(sim.state)
            else:
                result = {"Results": "Invalid action"}
        elif endpoint == "listtenants":
            failed = sim.faults.pick(path, demo.MSP_TENANT_ID, ("listTenantsError",))
            if failed:
                self._fault_fired()
                result = cipp.list_tenants_error(failed.message)
            else:
                result = cipp.list_tenants(sim.state)
        else:
            self._send(404)
            return
        payload = b"" if result is None else json.dumps(result).encode()
        self._send(200, self._maybe_truncate(path, demo.MSP_TENANT_ID, payload), JSON_CONTENT_TYPE)

    # --- admin ----------------------------------------------------------------------------------

    def _admin(self, path: str, body: bytes) -> None:
        sim = self.server.sim
        state = sim.state
        route = (self.command, path.rstrip("/"))
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            self._json(400, {"error": "the body is not valid JSON"})
            return
        if route == ("GET", "/_sim/health"):
            self._json(200, {"ok": True, "now": iso_now(state.clock.now_ts()), "tenants": len(state.tenants)})
        elif route == ("GET", "/_sim/stats"):
            self._json(200, state.stats())
        elif route == ("POST", "/_sim/stats/reset"):
            state.reset_stats()
            self._json(200, state.stats())
        elif route == ("POST", "/_sim/clock"):
            seconds = data.get("advanceSeconds") if isinstance(data, dict) else None
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
                self._json(400, {"error": "advanceSeconds must be a number"})
                return
            try:
                with state.lock:
                    state.clock.advance(seconds)
            except ValueError as exc:
                self._json(409, {"error": str(exc)})
                return
            self._json(200, {"now": iso_now(state.clock.now_ts())})
        elif route == ("POST", "/_sim/faults"):
            rules = data.get("faults") if isinstance(data, dict) else None
            if not isinstance(rules, list):
                self._json(400, {"error": 'expected {"faults": [...]}'})
                return
            try:
                sim.faults.replace(rules)
            except ValueError as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, {"faults": len(rules)})
        elif route == ("POST", "/_sim/drift"):
            tenant = data.get("tenantId") if isinstance(data, dict) else None
            if tenant is not None and not isinstance(tenant, str):
                self._json(400, {"error": "tenantId must be a string"})
                return
            try:
                entry = audits.drift_now(state, tenant)
            except KeyError:
                self._json(404, {"error": f"unknown tenant {tenant}"})
                return
            if entry is None:
                self._json(409, {"error": "no enabled policy there excludes service providers"})
                return
            self._json(200, entry)
        else:
            self._json(404, {"error": f"no admin route {self.command} {path}"})
