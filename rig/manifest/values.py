"""Reading ``stack.json``'s values without trusting them (:mod:`rig.manifest`): a value of the wrong
type reads as ``None``, NaN and infinities never enter, and the one-line error for a file that is no
manifest at all."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class UnreadableManifest(ValueError):
    """``stack.json`` is not a readable rig manifest; the message is the one-line reason."""


def position_key(units: str) -> str:
    return "position_um" if units == "um" else "position_steps"


def with_extra(out: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``out`` with the keys read but not understood: unknown keys, and known ones whose value had
    the wrong type (written back as they were, unless this run has set them since)."""
    out.update(extra)
    return out


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    return value if type(value) is int else None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def no_constant(_: str) -> None:
    return None  # NaN, Infinity: never in a manifest rig wrote, and not valid JSON to answer with


def finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def as_crop(value: Any) -> tuple[int, int, int, int] | None:
    if not isinstance(value, list) or len(value) != 4 or not all(type(v) is int for v in value):
        return None
    return (value[0], value[1], value[2], value[3])


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
