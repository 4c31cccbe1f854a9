"""Microsoft Graph requests and answers as the handlers see them: the request, a collection page or a
single result, Graph's errors, and the OData helpers every handler uses (paging, $select, $filter)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator import demo, odata
from simulator.state import SimState


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    version: str  # "v1.0" | "beta"
    path: str  # after the version, no leading slash
    params: list[tuple[str, str]]
    body: bytes
    tenant_id: str
    base_url: str  # http://127.0.0.1:PORT
    match: re.Match | None = None
    client_id: str | None = None  # the token's appid: the application making the call

    def q(self, name: str) -> str | None:
        """A system query option, with or without its '$'."""
        for key, value in self.params:
            if key.lower() in (name.lower(), name.lower().lstrip("$")):
                return value
        return None

    def json_body(self) -> dict:
        try:
            data = json.loads(self.body or b"null")
        except ValueError as exc:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
            ) from exc
        if not isinstance(data, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        return data

    @property
    def context_base(self) -> str:
        return f"{self.base_url}/{self.version}/$metadata#"


@dataclass
class Collection:
    """One page of a collection; the server renders it (and may turn it into an empty page)."""

    context: str
    items: list[Any]  # dicts, or Records for sign-ins
    next_token: str | None
    here_token: str  # the token that re-requests this same page


@dataclass
class Result:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[SimState, Request], "Collection | Result"]


def family_of(path: str) -> str:
    lowered = path.lower()
    if lowered.startswith(("auditlogs/", "reports/")):
        return "reports"
    if lowered.startswith("identity/conditionalaccess"):
        return "ca"
    return "directory"


def require_premium(req: Request) -> None:
    """Sign-in and audit logs and the reports/ endpoints need Entra ID P1/P2 in the tenant; without it
    Graph answers 403 with this code and message (REFERENCE.md)."""
    if not demo.licensed_for_reports(req.tenant_id):
        raise GraphError(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )


def not_found(what: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{what}' does not exist or one of its queried reference-property objects are not present.",
    )


# --- paging helpers --------------------------------------------------------------------------------


def page(req: Request, context: str, items: list[Any], default_top: int, max_top: int) -> Collection:
    top = odata.parse_top(req.q("$top"), default_top, max_top)
    token = req.q("$skiptoken")
    offset = odata.decode_token(token, "o", {"o": int})["o"] if token else 0
    chunk = items[offset : offset + top]
    next_token = odata.encode_token({"k": "o", "o": offset + top}) if offset + top < len(items) else None
    return Collection(context, chunk, next_token, odata.encode_token({"k": "o", "o": offset}))


def selected(req: Request, items: list[dict]) -> list[dict]:
    fields = odata.parse_select(req.q("$select"))
    return [odata.select_properties(i, fields) for i in items] if fields else items


def filtered(req: Request, items: list[dict], allowed: dict[str, type]) -> list[dict]:
    wanted = odata.parse_equality_filter(req.q("$filter"), allowed)
    return [i for i in items if odata.matches_equality(i, wanted)] if wanted else items


def find_by_id(items: list[dict], item_id: str) -> dict:
    found = next((i for i in items if str(i.get("id")).lower() == item_id.lower()), None)
    if found is None:
        raise not_found(item_id)
    return found


def entity(req: Request, set_name: str, obj: dict) -> dict:
    return {"@odata.context": f"{req.context_base}{set_name}/$entity", **obj}
