"""A small OpenID Connect provider on loopback for browser tests of `st.login`.

It implements just the authorization-code flow Streamlit (Authlib) uses: discovery, an authorize
endpoint that signs in a configured user at once (no login form), the token endpoint returning an
RS256-signed ID token with a `roles` claim (as Entra ID app roles arrive), JWKS and userinfo.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class OidcUser:
    email: str
    name: str
    roles: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"sub-{self.email}"


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str, user: OidcUser) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self._codes: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> OidcProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def secrets_toml(self, redirect_uri: str) -> str:
        return (
            f'[auth]\nredirect_uri = "{redirect_uri}"\ncookie_secret = "{secrets.token_hex(32)}"\n\n'
            f'[auth.microsoft]\nclient_id = "{self.client_id}"\nclient_secret = "{self.client_secret}"\n'
            f'server_metadata_url = "{self.metadata_url}"\n'
        )

    # --- protocol -------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    def claims(self, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": self.user.subject,
            "iat": now,
            "exp": now + 3600,
            "email": self.user.email,
            "name": self.user.name,
            "preferred_username": self.user.email,
            "roles": list(self.user.roles),
        }
        if nonce:
            claims["nonce"] = nonce
        return claims

    def authorize(self, query: dict[str, str]) -> str:
        code = secrets.token_urlsafe(16)
        self._codes[code] = {"nonce": query.get("nonce"), "redirect_uri": query["redirect_uri"]}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def token(self, form: dict[str, str]) -> dict[str, Any] | None:
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return None
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, self.claims(grant["nonce"]), self.key)
        return {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
            "scope": "openid profile email",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.metadata())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self.send_response(302)
                    self.send_header("Location", provider.authorize(query))
                    self.end_headers()
                elif url.path == "/userinfo":
                    self._json(200, provider.claims(None))
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                tokens = provider.token(form)
                if tokens is None:
                    self._json(400, {"error": "invalid_grant"})
                else:
                    self._json(200, tokens)

        return Handler
