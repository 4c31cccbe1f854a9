"""The one place that maps Graph JSON to database rows.

Sign-ins arrive in the thousands per second, so this is plain dict access on ``json.loads`` output:
no SDK models on this path (REFERENCE.md: model parsing manages ~220 objects/s).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

SIGNIN_COLUMNS = (
    "id", "tenant_id", "created_at", "user_principal_name", "user_display_name", "user_id",
    "app_display_name", "app_id", "ip_address", "country", "city", "error_code", "failure_reason",
    "conditional_access_status", "is_interactive", "authentication_requirement",
    "cross_tenant_access_type", "home_tenant_id", "raw",
)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a page of JSON is parsed or turned into rows.

    A page is ~20,000 new dicts, lists and tuples; each 700 allocations start a collection and the
    older generations' collections walk everything the process holds, which measured as half of a
    page's parse time (bench/ingest.py). Parsed JSON and row tuples cannot form reference cycles, so
    there is nothing for the collector to find in them; it resumes (and catches up) afterwards.
    """
    if not gc.isenabled():  # already paused by an outer caller: leave it to them
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_json(body: bytes | str) -> Any:
    """A Graph or CIPP response body → Python objects (orjson; raises orjson.JSONDecodeError)."""
    with cyclic_gc_paused():
        return orjson.loads(body)


def use_parsed_json(body: bytes | str, use: Callable[[Any], T]) -> T:
    """Parse ``body`` and hand the objects to ``use``, the cycle collector paused throughout.

    The objects are freed before the collector resumes, so it never walks them. With only the parse
    paused, the collector's catch-up walks each live page once or more (an eighth of the ingest time
    in bench/ingest.py). Raises orjson.JSONDecodeError for a body that is not JSON.
    """
    with cyclic_gc_paused():
        document = orjson.loads(body)
        try:
            return use(document)
        finally:
            del document


class MalformedObject(ValueError):
    """A Graph object lacks what we need to store it (e.g. a sign-in without id)."""


def parse_graph_datetime(value: str) -> datetime:
    """Graph timestamps ('2026-11-21T10:00:00Z', with 0-7 fractional digits) as naive UTC."""
    try:  # the common shapes ('…:32Z', '…:32.123Z') parse natively; UTC 'Z' straight to naive
        parsed = datetime.fromisoformat(value[:-1] if value[-1:] == "Z" else value)
    except ValueError:
        parsed = None
    if parsed is not None:
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1]
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        tail = frac[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def graph_datetime(value: datetime) -> str:
    """Naive-UTC datetime → Graph's ISO form with a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def signin_row(tenant_id: str, obj: dict[str, Any]) -> tuple:
    """One sign-in object → a tuple in :data:`SIGNIN_COLUMNS` order (hot path: keep it flat)."""
    get = obj.get
    try:
        signin_id = obj["id"]
        created = parse_graph_datetime(obj["createdDateTime"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedObject(f"sign-in without a usable id/createdDateTime ({error!r})") from None
    status = get("status")
    if not isinstance(status, dict):
        status = {}
    location = get("location")
    if not isinstance(location, dict):
        location = {}
    # `status: {}` happens in real data: no errorCode means success.
    error_code = status.get("errorCode") or 0
    if not isinstance(error_code, int):
        try:
            error_code = int(error_code)
        except (TypeError, ValueError):
            error_code = -1
    is_interactive = get("isInteractive")
    return (
        str(signin_id),
        tenant_id,
        created,
        get("userPrincipalName") or "",
        get("userDisplayName") or "",
        get("userId") or "",
        get("appDisplayName") or "",
        get("appId") or "",
        get("ipAddress") or "",
        location.get("countryOrRegion") or "",
        location.get("city") or "",
        error_code,
        status.get("failureReason") or "",
        get("conditionalAccessStatus") or "",
        True if is_interactive is None else bool(is_interactive),
        get("authenticationRequirement") or "",
        get("crossTenantAccessType") or "",
        get("homeTenantId") or "",
        orjson.dumps(obj).decode(),
    )


def object_id(kind: str, obj: dict[str, Any]) -> str:
    """The id under which a non-sign-in object is kept (some kinds have none of their own)."""
    for key in ("id", "ClientId", "customerId", "userPrincipalName"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return kind
