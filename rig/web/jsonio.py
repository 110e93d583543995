"""Strict JSON input: a JSON object, finite numbers, known keys, and messages that name the field.

Flask's own parser accepts ``NaN`` and ``Infinity`` (and ``1e999`` becomes ``inf``); this one
does not. Profiles are validated by ``rig.config.schema.from_table`` so the API and the
profile files share one set of rules.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from rig.config import Profile
from rig.config.schema import from_table
from rig.errors import ConfigError, UsageError
from rig.specimen import TEXT_MAX, Specimen
from rig.web.security import ApiError

SPECIMEN_FIELDS = tuple(TEXT_MAX)

MAX_BODY = 64 * 1024
MAX_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed; numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large; numbers must be finite")
    return value


MAX_INT_DIGITS = 18  # |n| < 10**18: exact in int64, finite as a float


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is too large")
    return int(text)


def _lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with an unpaired UTF-16 surrogate (``"\\ud800"``),
    which no file, header or page could carry."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit`` (checked before parsing, so the
    parser never recurses deeply)."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def body(allowed: set[str] | None = None, required: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as ``{}``."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"request body too large (limit {MAX_BODY} bytes)")
    if raw.strip():
        if request.mimetype != "application/json":
            raise ApiError(415, "send the body as JSON with Content-Type: application/json")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "the body is not valid UTF-8") from None
        if _too_deep(text):
            raise ApiError(400, f"the JSON body is nested more than {MAX_DEPTH} levels deep")
        try:
            data = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float, parse_int=_bounded_int)
        except RecursionError:
            raise ApiError(400, "the JSON body is nested too deeply") from None
        except ValueError as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}") from None
        if _lone_surrogate(data):
            raise ApiError(400, "the body holds a string with an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
    else:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
    if allowed is not None:
        extra = sorted(set(data) - allowed)
        if extra:
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, f"unknown field {extra[0]!r} (allowed: {known})")
    missing = sorted(required - set(data))
    if missing:
        raise ApiError(400, f"missing field {missing[0]!r}")
    return data


def number(data: dict[str, Any], key: str, lo: float, hi: float, unit: str = "") -> float | None:
    """An optional finite number within ``lo..hi`` (booleans and strings are refused)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"{key} = {value!r}: must be a number")
    value = float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ApiError(400, f"{key} = {value!r}: must be a number from {lo:g} to {hi:g}{' ' + unit if unit else ''}")
    return value


def boolean(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} = {value!r}: must be true or false")
    return value


def string(data: dict[str, Any], key: str, max_len: int = 200) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key} = {value!r}: must be a string")
    if len(value) > max_len or "\x00" in value:
        raise ApiError(400, f"{key}: must be at most {max_len} characters, without NUL")
    return value


def profile_from(table: Any, where: str = "request") -> Profile:
    """Validate a profile table exactly as a profile file would be."""
    if not isinstance(table, dict):
        raise ApiError(400, f"profile must be a JSON object, not {type(table).__name__}")
    try:
        return from_table(Profile, table, where).checked(where)
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from None
    except RecursionError:
        raise ApiError(400, "profile is nested too deeply") from None


def specimen_from(value: Any) -> Specimen | None:
    """The ``specimen`` object of a request (``name``, ``catalogue_number``, ``notes``, ``session``),
    checked; 400 naming the field when it will not do."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, f"specimen must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - set(SPECIMEN_FIELDS))
    if unknown:
        raise ApiError(400, f"specimen: unknown field {unknown[0]!r} (known: {', '.join(SPECIMEN_FIELDS)})")
    for key, text in value.items():
        if text is not None and not isinstance(text, str):
            raise ApiError(400, f"specimen {key} = {text!r}: must be a string")
    try:
        specimen = Specimen.of(**value)
    except UsageError as exc:
        raise ApiError(400, str(exc)) from None
    return None if specimen.empty else specimen
