"""Tolerant readers of Graph JSON values: a field of the wrong type reads as empty, never raises."""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def lower(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def lower_set(values: Any) -> set[str]:
    return {lower(v) for v in as_list(values) if isinstance(v, str | int) and lower(v)}


def text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default
