"""The one place that maps Graph JSON to database rows.

Sign-ins arrive in the thousands per second, so no SDK models on this path (REFERENCE.md: model
parsing manages ~220 objects/s). A page of sign-ins is decoded with msgspec into each sign-in's own
JSON, untouched (kept, compressed, as the ``raw`` column: db.signin_raw), and each of those into just
the fields the columns take: no dict is built for the other ~40 properties and nothing is serialised
again (bench/ingest.py). Other Graph and CIPP documents are parsed whole with orjson.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec
import orjson

from graphjson.times import parse_graph_datetime
from graphjson.values import lower

T = TypeVar("T")

SIGNIN_COLUMNS = (
    "id",
    "tenant_id",
    "created_at",
    "user_principal_name",
    "user_display_name",
    "user_id",
    "app_display_name",
    "app_id",
    "ip_address",
    "country",
    "city",
    "error_code",
    "failure_reason",
    "conditional_access_status",
    "is_interactive",
    "authentication_requirement",
    "cross_tenant_access_type",
    "home_tenant_id",
    "raw",
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


class SigninPage(msgspec.Struct, gc=False):
    """A page of Graph's sign-ins: each sign-in's own JSON as it came, and the link to the next page."""

    value: list[msgspec.Raw]
    next_link: str | None = msgspec.field(name="@odata.nextLink", default=None)


class MalformedPage(ValueError):
    """JSON, but not a page of sign-ins (no ``value`` list, a ``nextLink`` that is not a string)."""


NOT_JSON: tuple[type[Exception], ...] = (orjson.JSONDecodeError, msgspec.DecodeError)
"""What parse_json and decode_signin_page raise for a body that is not JSON (e.g. cut off)."""

_SIGNIN_PAGE = msgspec.json.Decoder(SigninPage)


def decode_signin_page(body: bytes) -> SigninPage:
    """Raises one of NOT_JSON for a body that is not JSON, MalformedPage for JSON of another shape."""
    try:
        return _SIGNIN_PAGE.decode(body)
    except msgspec.ValidationError as error:
        raise MalformedPage(str(error)) from None


class _AppliedPolicy(msgspec.Struct, rename="camel", gc=False):
    """One entry of appliedConditionalAccessPolicies: only what db.signin_index keeps and what
    explaining a failure reads (its other properties are skipped by the decoder, not built)."""

    id: Any = None
    result: Any = None
    display_name: Any = None
    enforced_grant_controls: Any = None


class _Status(msgspec.Struct, rename="camel", gc=False):
    error_code: Any = None
    failure_reason: Any = None


class _Location(msgspec.Struct, rename="camel", gc=False):
    city: Any = None
    country_or_region: Any = None
    geo_coordinates: Any = None


class _SigninFields(msgspec.Struct, rename="camel", gc=False):
    """What the columns take from a sign-in. Text is typed as text so that an odd value cannot reach
    the database driver (and fail the whole page); such a sign-in takes the slow road
    (:func:`_loose_fields`)."""

    id: Any = None
    created_date_time: Any = None
    user_principal_name: str | None = None
    user_display_name: str | None = None
    user_id: str | None = None
    app_display_name: str | None = None
    app_id: str | None = None
    ip_address: str | None = None
    location: _Location | None = None  # objects, not dicts: nothing built for what the row skips
    status: _Status | None = None
    conditional_access_status: str | None = None
    is_interactive: Any = None
    authentication_requirement: str | None = None
    cross_tenant_access_type: str | None = None
    home_tenant_id: str | None = None
    applied_conditional_access_policies: list[_AppliedPolicy] | None = None


_SIGNIN_FIELDS = msgspec.json.Decoder(_SigninFields)
_FIELDS = msgspec.structs.fields(_SigninFields)
_TEXT_FIELDS = frozenset(field.name for field in _FIELDS if field.type == str | None)


def _loose_fields(raw: bytes | msgspec.Raw) -> _SigninFields:
    """A sign-in whose text fields are not all text: kept, each odd value as its JSON text."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:  # e.g. an integer beyond 64 bits, which msgspec takes
        raise MalformedObject(f"a sign-in that cannot be read ({error})") from None
    if not isinstance(obj, dict):
        raise MalformedObject(f"a sign-in must be a JSON object, not {type(obj).__name__}")
    values = {field.name: obj.get(field.encode_name) for field in _FIELDS}
    for name in _TEXT_FIELDS:
        if values[name] is not None and not isinstance(values[name], str):
            values[name] = orjson.dumps(values[name]).decode()
    if not isinstance(values["applied_conditional_access_policies"], list):
        values["applied_conditional_access_policies"] = None
    status, location = values["status"], values["location"]
    values["status"] = (
        _Status(status.get("errorCode"), status.get("failureReason")) if isinstance(status, dict) else None
    )
    values["location"] = (
        _Location(location.get("city"), location.get("countryOrRegion"), location.get("geoCoordinates"))
        if isinstance(location, dict)
        else None
    )
    return _SigninFields(**values)


SigninJson = bytes | msgspec.Raw | dict[str, Any]
"""One sign-in: its JSON as Graph sent it (bytes, or a msgspec.Raw of a page), or a dict built in
Python (tests, tools), which is serialised first."""


def signin_json(signin: SigninJson) -> bytes | msgspec.Raw:
    """A sign-in as JSON (see SigninJson); raises MalformedObject for anything else."""
    if isinstance(signin, dict):
        return orjson.dumps(signin)
    if isinstance(signin, bytes | msgspec.Raw):
        return signin
    raise MalformedObject(f"a sign-in must be a JSON object, not {type(signin).__name__}")


def signin_row(tenant_id: str, signin: SigninJson) -> tuple:
    """One sign-in → a tuple in :data:`SIGNIN_COLUMNS` order, ``raw`` its JSON unchanged (bytes or the
    page's msgspec.Raw; db.signin_raw compresses it for storage). Hot path: keep it flat. Raises
    MalformedObject for anything that is not a sign-in object."""
    return signin_row_outcomes(tenant_id, signin)[0]


Outcome = tuple[str, str]
"""(policy id, result as Graph wrote it) of one appliedConditionalAccessPolicies entry."""


def signin_row_outcomes(tenant_id: str, signin: SigninJson) -> tuple[tuple, list[Outcome]]:
    """:func:`signin_row` and the sign-in's Conditional Access outcomes, from one decode. An entry
    without an id is left out; a result that is not text is kept as its JSON text."""
    row, outcomes, _failure = signin_row_details(tenant_id, signin)
    return row, outcomes


def signin_row_details(tenant_id: str, signin: SigninJson) -> tuple[tuple, list[Outcome], dict | None]:
    """:func:`signin_row_outcomes` and, for a failed sign-in, :func:`failure_fields`, all from one
    decode (the ingest path: db.store.store_signins)."""
    raw = signin if signin.__class__ is msgspec.Raw else signin_json(signin)  # a page's: the usual
    try:
        fields = _SIGNIN_FIELDS.decode(raw)
    except msgspec.ValidationError:  # not an object, or text fields that are not text
        fields = _loose_fields(raw)
    except msgspec.DecodeError as error:
        raise MalformedObject(f"a sign-in that is not JSON ({error})") from None
    signin_id, when = fields.id, fields.created_date_time
    if signin_id is None or signin_id == "" or isinstance(signin_id, dict | list | bool):
        raise MalformedObject(f"sign-in without a usable id ({signin_id!r})")
    try:
        created = parse_graph_datetime(when)
    except (TypeError, ValueError, AttributeError, IndexError):
        raise MalformedObject(f"sign-in {signin_id} without a usable createdDateTime ({when!r})") from None
    try:
        text = str(raw, "utf-8")  # bytes and Raw alike: JSON is UTF-8, and the pages show it as text
    except UnicodeDecodeError as error:
        raise MalformedObject(f"sign-in {signin_id} is not UTF-8 ({error})") from None
    status, location = fields.status, fields.location
    # `status: {}` happens in real data: no errorCode means success.
    error_code = (status.error_code or 0) if status is not None else 0
    if error_code.__class__ is not int:
        try:
            error_code = int(error_code)
        except (TypeError, ValueError):
            error_code = -1
    is_interactive = fields.is_interactive
    outcomes: list[Outcome] = []
    applied = fields.applied_conditional_access_policies
    failure = None
    if error_code:
        failure = {
            # Only the failing ones: what choosing the blocking policy reads (investigate.explain).
            "appliedConditionalAccessPolicies": [_applied_dict(p) for p in applied or () if _failed(p)],
            "location": {"geoCoordinates": location.geo_coordinates} if location is not None else None,
            "status": {"errorCode": error_code},
        }
    if applied:
        for policy in applied:  # hot: six or more per sign-in
            if policy.__class__ is not _AppliedPolicy:  # the loose road: JSON objects as dicts
                policy = _AppliedPolicy(**_applied_values(policy))
            policy_id, result = policy.id, policy.result
            if not policy_id:
                continue
            if policy_id.__class__ is not str:
                policy_id = _text(policy_id)
            if result.__class__ is not str:
                result = _text(result)
            outcomes.append((policy_id[:64], result[:32]))
    row = (
        signin_id if signin_id.__class__ is str else str(signin_id),
        tenant_id,
        created,
        fields.user_principal_name or "",
        fields.user_display_name or "",
        fields.user_id or "",
        fields.app_display_name or "",
        fields.app_id or "",
        fields.ip_address or "",
        _text(location.country_or_region) if location is not None else "",
        _text(location.city) if location is not None else "",
        error_code,
        _text(status.failure_reason) if status is not None else "",
        fields.conditional_access_status or "",
        True if is_interactive is None else bool(is_interactive),
        fields.authentication_requirement or "",
        fields.cross_tenant_access_type or "",
        fields.home_tenant_id or "",
        raw,  # compressed by db.signin_raw before it is stored
    )
    if "\\u0000" in text:  # a NUL in a text value: PostgreSQL's text cannot hold it (the page would fail)
        row = (*(_without_nul(value) for value in row[:-1]), raw)
        outcomes = [(_without_nul(policy_id), _without_nul(result)) for policy_id, result in outcomes]
    return row, outcomes, failure


def _applied_dict(policy: Any) -> Any:
    """An applied policy as explaining a failure reads it (investigate.explain: a JSON object)."""
    if policy.__class__ is not _AppliedPolicy:
        return policy  # the loose road: as it came
    return {
        "id": policy.id,
        "displayName": policy.display_name,
        "result": policy.result,
        "enforcedGrantControls": policy.enforced_grant_controls,
    }


# Results Graph documents other than failure: no need to normalise them to know they are not one.
_NOT_FAILURE = frozenset(
    (
        "success",
        "notApplied",
        "notEnabled",
        "unknown",
        "unknownFutureValue",
        "reportOnlySuccess",
        "reportOnlyFailure",
        "reportOnlyNotApplied",
        "reportOnlyInterrupted",
    )
)


def _failed(policy: Any) -> bool:
    """An applied policy whose result is ``failure``, read as investigate.explain reads it."""
    if policy.__class__ is _AppliedPolicy:
        result = policy.result
        if result.__class__ is str and result in _NOT_FAILURE:
            return False
        return lower(result) == "failure"
    return isinstance(policy, dict) and lower(policy.get("result")) == "failure"


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if value.__class__ is str else value


def _applied_values(policy: Any) -> dict[str, Any]:
    if isinstance(policy, dict):
        return {"id": policy.get("id"), "result": policy.get("result")}
    return {}


def _text(value: Any) -> str:
    """A nested text value (location, status) as text whatever came."""
    if value.__class__ is str:
        return value
    return "" if not value else orjson.dumps(value).decode()


def failure_fields(signin: SigninJson) -> dict[str, Any]:
    """What the index of a failed sign-in reads (its failing Conditional Access results, to choose the
    blocking policy with investigate.explain; its coordinates; its error code), as a dict; empty for a
    sign-in that did not fail."""
    return signin_row_details("", signin)[2] or {}


def object_id(kind: str, obj: dict[str, Any]) -> str:
    """The id under which a non-sign-in object is kept (some kinds have none of their own)."""
    for key in ("id", "ClientId", "customerId", "userPrincipalName"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return kind
