"""What each JSON endpoint takes, declared once: the handler validates with it and the OpenAPI
description (``GET /api/openapi.json``, :mod:`rig.web.openapi`) is generated from it.

A view is bound to its :class:`Operation` with ``@accepts(OP)``; inside, ``read_body()`` and
``read_query()`` validate the request against that same declaration (400 with a one-line
message naming the field, through :mod:`rig.web.jsonio`). A :class:`Field` carries both its JSON
Schema and its reader, made by the same constructor from the same numbers; profiles are checked by
``rig.config.schema.from_table`` and described by ``rig.config.json_schema`` from the same field
metadata. See docs/api.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app, request

from rig.specimen import TEXT_MAX
from rig.web import jsonio
from rig.web.security import ApiError

MOTION_LIMIT = 1e7  # um (or lens steps): far beyond any rail; the rail's soft limits are checked after
ATTR = "rig_operation"
Schema = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Field:
    """One body field or query parameter: its JSON Schema and how the handler reads it."""

    name: str
    schema: Callable[[], Schema]
    read: Callable[[Mapping[str, Any]], Any]
    required: bool = False
    help: str = ""


def number(name: str, lo: float, hi: float, unit: str = "", help: str = "", required: bool = False) -> Field:
    """A finite number in ``lo..hi`` (``null`` or absent: not given, unless required)."""
    kind: Any = "number" if required else ["number", "null"]
    return Field(
        name,
        lambda: {"type": kind, "minimum": lo, "maximum": hi},
        lambda data: jsonio.number(dict(data), name, lo, hi, unit),
        required,
        help + (f" ({unit})" if unit else ""),
    )


def flag(name: str, default: bool, help: str = "") -> Field:
    return Field(
        name,
        lambda: {"type": "boolean", "default": default},
        lambda d: jsonio.boolean(dict(d), name, default),
        help=help,
    )


def text(name: str, max_len: int, help: str = "") -> Field:
    return Field(
        name,
        lambda: {"type": ["string", "null"], "maxLength": max_len},
        lambda d: jsonio.string(dict(d), name, max_len),
        help=f"{help} (no NUL characters)".strip(),
    )


def choice(name: str, choices: tuple[str, ...], help: str = "", required: bool = False) -> Field:
    def read(data: Mapping[str, Any]) -> Any:
        value = data.get(name)
        if value not in choices:
            raise ApiError(400, f"{name} = {value!r}: must be {' or '.join(repr(c) for c in choices)}")
        return value

    return Field(name, lambda: {"enum": list(choices)}, read, required, help)


def raw(name: str, schema: Callable[[], Schema], help: str = "", required: bool = False, absent: Any = None) -> Field:
    """A field the handler checks itself (a profile with ``from_table``, a specimen with
    ``specimen_from``: the rules ``schema`` describes); ``absent``: its value when not given."""

    def read(data: Mapping[str, Any]) -> Any:
        if name in data:
            return data[name]
        return dict(absent) if isinstance(absent, dict) else absent

    return Field(name, schema, read, required, help)


@dataclass(frozen=True)
class Body:
    """A JSON object body: its fields (unknown ones are refused), and how they go together."""

    fields: tuple[Field, ...] = ()
    exactly_one: tuple[str, str] | None = None  # "give exactly one of delta or target"
    both_or_neither: tuple[str, str] | None = None  # "give both from_um and to_um, or neither"
    whole: Callable[[], Schema] | None = None  # the body is itself one object (a profile)

    def read(self) -> dict[str, Any]:
        if self.whole is not None:
            return jsonio.body()
        data = jsonio.body({f.name for f in self.fields}, {f.name for f in self.fields if f.required})
        out = {f.name: f.read(data) for f in self.fields}
        if self.exactly_one:
            a, b = self.exactly_one
            if (out[a] is None) == (out[b] is None):
                raise ApiError(400, f"give exactly one of {a} or {b}")
        if self.both_or_neither:
            a, b = self.both_or_neither
            if (out[a] is None) != (out[b] is None):
                raise ApiError(400, f"give both {a} and {b}, or neither")
        return out

    def schema(self) -> Schema:
        if self.whole is not None:
            return self.whole()
        props: Schema = {}
        for f in self.fields:
            props[f.name] = {**f.schema(), **({"description": f.help} if f.help else {})}
        out: Schema = {"type": "object", "properties": props, "additionalProperties": False}
        required = [f.name for f in self.fields if f.required]
        if required:
            out["required"] = required
        if self.exactly_one:
            out["oneOf"] = [{"required": [k], "properties": {k: {"type": "number"}}} for k in self.exactly_one]
        if self.both_or_neither:
            a, b = self.both_or_neither
            out["anyOf"] = [
                {"required": [a, b], "properties": {a: {"type": "number"}, b: {"type": "number"}}},
                {"properties": {a: {"type": "null"}, b: {"type": "null"}}},
            ]
        return out


# ----------------------------------------------------------------- query parameters
def query_text(name: str, limit: int = 200, help: str = "") -> Field:
    def read(args: Mapping[str, Any]) -> str:
        value = str(args.get(name, ""))
        if len(value) > limit or "\x00" in value:
            raise ApiError(400, f"{name}: at most {limit} characters, without NUL")
        return value.strip()

    return Field(name, lambda: {"type": "string", "maxLength": limit}, read, help=help)


def query_whole(name: str, default: int, top: int, help: str = "") -> Field:
    def read(args: Mapping[str, Any]) -> int:
        got = str(args.get(name, str(default)))
        if not got.isdigit() or not 1 <= int(got) <= top:
            raise ApiError(400, f"{name} = {got!r}: must be a whole number from 1 to {top}")
        return int(got)

    return Field(name, lambda: {"type": "integer", "minimum": 1, "maximum": top, "default": default}, read, help=help)


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def query_day(name: str, help: str = "") -> Field:
    plain = query_text(name, 10)

    def read(args: Mapping[str, Any]) -> str:
        value = str(plain.read(args))
        if value and not DAY.fullmatch(value):
            raise ApiError(400, f"{name} = {value!r}: give a date as YYYY-MM-DD")
        return value

    return Field(name, lambda: {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2})?$"}, read, help=help)


def query_choice(name: str, choices: tuple[str, ...], help: str = "") -> Field:
    plain = query_text(name, 20)

    def read(args: Mapping[str, Any]) -> str:
        value = str(plain.read(args)) or choices[0]
        if value not in choices:
            raise ApiError(400, f"{name} = {value!r}: one of {', '.join(choices)}")
        return value

    schema = {"type": "string", "enum": ["", *choices], "default": choices[0]}  # "": the default
    return Field(name, lambda: schema, read, help=help)


# ----------------------------------------------------------------- operations
@dataclass(frozen=True)
class Operation:
    """An endpoint's contract: body and query it takes, its success status and answer (a schema
    name in rig.web.openapi's components), and the error statuses its state can give."""

    body: Body | None = None
    query: tuple[Field, ...] = ()
    ok: int = 200
    answer: str = "Object"
    errors: tuple[int, ...] = ()
    path: Mapping[str, Schema] = field(default_factory=dict)


def accepts(op: Operation) -> Callable[[F], F]:
    """Bind a view to its operation (below the route decorator)."""

    def mark(view: F) -> F:
        setattr(view, ATTR, op)
        return view

    return mark


def operation_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, ATTR, None)


def _current() -> Operation:
    op = operation_of(current_app.view_functions[str(request.endpoint)])
    if op is None:
        raise RuntimeError(f"{request.endpoint} declares no input (rig.web.inputs.accepts)")
    return op


def read_body() -> dict[str, Any]:
    """The request's body, checked against the view's declared :class:`Body` (400 naming the field)."""
    body = _current().body
    if body is None:
        raise RuntimeError(f"{request.endpoint} declares no body")
    return body.read()


def read_query() -> dict[str, Any]:
    """The request's query parameters, checked against the view's declaration."""
    return {f.name: f.read(request.args) for f in _current().query}


@functools.cache
def specimen_schema() -> Schema:
    """``specimen``: what the stack is of (rig.specimen: ``jsonio.specimen_from`` checks it)."""
    props = {key: {"type": ["string", "null"], "maxLength": limit} for key, limit in TEXT_MAX.items()}
    return {"type": ["object", "null"], "properties": props, "additionalProperties": False}
