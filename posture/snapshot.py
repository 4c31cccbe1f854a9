"""Snapshot format v1: loading and validation.

Lenient about what is missing (a missing key makes the checks that need it say ``n/a``), strict about
what is there with the wrong type: a wrong type is a broken export, and guessing would hide it.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from graphjson.times import read_graph_datetime

SNAPSHOT_VERSION = 1

# Per-tenant keys holding Graph's `value` arrays (each element a Graph object).
TENANT_LIST_KEYS = (
    "conditionalAccessPolicies",
    "namedLocations",
    "subscribedSkus",
    "users",
    "groups",
    "directoryRoles",
    "userRegistrationDetails",
    "signIns",
)
# cippWhatIf: the lockout prediction (posture.checks.lockout), an optional v1 addition.
TENANT_OBJECT_KEYS = ("securityDefaults", "cippWhatIf")
TENANT_ROLES = ("msp", "client")
ACCESS_MODES = ("gdap", "direct")


class SnapshotError(Exception):
    """The snapshot is unusable; the message is one line naming the source and the bad field."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A short, one-line rendering of an offending value."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, problem: str) -> SnapshotError:
        return SnapshotError(f"{self.source}: {field}: {problem}")

    def expect(self, value: Any, kind: type, field: str, what: str) -> None:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(field, f"expected {what}, got {_type_name(value)}")

    def optional_string(self, parent: dict[str, Any], key: str, field: str) -> None:
        if parent.get(key) is not None:
            self.expect(parent[key], str, field, "a string")

    def string_list(self, parent: dict[str, Any], key: str, field: str) -> None:
        self.list_of(parent, key, field, str, "a list of strings", "a string")

    def object_list(self, parent: dict[str, Any], key: str, field: str) -> None:
        self.list_of(parent, key, field, dict, "a list", "an object")

    def list_of(
        self, parent: dict[str, Any], key: str, field: str, kind: type, what: str, item_what: str
    ) -> None:
        """An optional list whose every item is a ``kind``: one loop for string and object lists alike."""
        value = parent.get(key)
        if value is None:
            return
        self.expect(value, list, field, what)
        for index, item in enumerate(value):
            if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
                # The field's name only for the one that fails: 500 tenants are 500,000 items.
                self.expect(item, kind, f"{field}[{index}]", item_what)

    def choice(self, parent: dict[str, Any], key: str, field: str, allowed: tuple[str, ...]) -> None:
        value = parent.get(key)
        if value is None:
            return
        self.expect(value, str, field, "a string")
        if value.lower() not in allowed:
            raise self.fail(field, f"is {_shown(value)}; expected one of {', '.join(allowed)}")

    def snapshot(self, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise self.fail("(top level)", f"expected a JSON object, got {_type_name(doc)}")
        if "version" not in doc:
            raise self.fail("version", "missing (this reader understands version 1)")
        version = doc["version"]
        if isinstance(version, bool) or version != SNAPSHOT_VERSION:
            raise self.fail("version", f"is {_shown(version)}; only version 1 is supported")
        collected_at = doc.get("collectedAt")
        if collected_at is not None and read_graph_datetime(collected_at) is None:
            raise self.fail("collectedAt", f"is {_shown(collected_at)}, not an ISO 8601 date-time")
        self.msp(doc.get("msp"))
        self.tenants(doc.get("tenants"))
        self.cipp(doc.get("cipp"))
        return doc

    def msp(self, msp: Any) -> None:
        if msp is None:
            return
        self.expect(msp, dict, "msp", "an object")
        for key in ("tenantId", "serviceAccountUpn"):
            self.optional_string(msp, key, f"msp.{key}")
        for key in ("breakGlassUpns", "trustedLocationNames"):
            self.string_list(msp, key, f"msp.{key}")

    def tenants(self, tenants: Any) -> None:
        if tenants is None:
            return
        self.expect(tenants, list, "tenants", "a list")
        seen: dict[str, int] = {}
        msp_index: int | None = None
        for index, tenant in enumerate(tenants):
            where = f"tenants[{index}]"
            self.expect(tenant, dict, where, "an object")
            tenant_id = tenant.get("tenantId")
            if tenant_id is None or tenant_id == "":
                raise self.fail(f"{where}.tenantId", "missing")
            self.expect(tenant_id, str, f"{where}.tenantId", "a string")
            if tenant_id.lower() in seen:
                first = seen[tenant_id.lower()]
                raise self.fail(f"{where}.tenantId", f"{tenant_id} already appears in tenants[{first}]")
            seen[tenant_id.lower()] = index
            for key in ("displayName", "defaultDomainName"):
                self.optional_string(tenant, key, f"{where}.{key}")
            self.choice(tenant, "role", f"{where}.role", TENANT_ROLES)
            self.choice(tenant, "accessMode", f"{where}.accessMode", ACCESS_MODES)
            if str(tenant.get("role") or "").lower() == "msp":
                if msp_index is not None:
                    raise self.fail(f"{where}.role", f"a second MSP tenant (tenants[{msp_index}] is one)")
                msp_index = index
            for key in TENANT_LIST_KEYS:
                self.object_list(tenant, key, f"{where}.{key}")
            for key in TENANT_OBJECT_KEYS:
                if tenant.get(key) is not None:
                    self.expect(tenant[key], dict, f"{where}.{key}", "an object")

    def cipp(self, cipp: Any) -> None:
        if cipp is None:
            return
        self.expect(cipp, dict, "cipp", "an object")
        # apiClients is CIPP's `Results`: non-object elements (a stray "Any") are skipped, not errors.
        if cipp.get("apiClients") is not None:
            self.expect(cipp["apiClients"], list, "cipp.apiClients", "a list")
        if cipp.get("azureConfiguration") is not None:
            self.expect(cipp["azureConfiguration"], dict, "cipp.azureConfiguration", "an object")
        self.object_list(cipp, "tenants", "cipp.tenants")


def validate_snapshot(doc: Any, source: str = "snapshot") -> dict[str, Any]:
    """Return ``doc`` if it is a usable v1 snapshot, else raise :class:`SnapshotError`.

    ``null`` counts as missing (so it gives ``n/a``, like an absent key).
    """
    return _Validator(source).snapshot(doc)


def decode_json_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM (what Windows PowerShell 5.1 writes); any other
    encoding is a one-line :class:`SnapshotError` naming it."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise SnapshotError(f"{name}: UTF-32 text is not supported (write UTF-8 or UTF-16 with a BOM)")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "UTF-16LE" if raw.startswith(codecs.BOM_UTF16_LE) else "UTF-16BE"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SnapshotError(f"{name}: not valid {encoding} text (byte {error.start})") from None
    if len(raw) >= 2 and (raw[0] == 0) != (raw[1] == 0):
        raise SnapshotError(
            f"{name}: UTF-16 without a byte-order mark is not supported (write UTF-8, or UTF-16 with a BOM)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SnapshotError(
            f"{name}: not UTF-8 text (byte {error.start}; UTF-8, or UTF-16 with a BOM, is read)"
        ) from None


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """Read and validate a snapshot file; every problem is a one-line :class:`SnapshotError`."""
    name = str(path)
    file = Path(path)
    if file.is_dir():
        raise SnapshotError(f"{name}: is a directory, not a snapshot file")
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{name}: no such file") from None
    except OSError as error:
        raise SnapshotError(f"{name}: cannot read it ({error.strerror or error})") from None
    text = decode_json_text(raw, name)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise SnapshotError(
            f"{name}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except RecursionError:
        raise SnapshotError(f"{name}: not valid JSON (nested too deeply)") from None
    return validate_snapshot(doc, source=name)
