"""JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) of a config dataclass, made from the same
field metadata ``rig.config.schema.check_value`` validates with: types, ``range``, ``choices``,
``words``, optional (``None``) fields, nested tables, unknown keys refused. The web API's
OpenAPI description (``rig.web.openapi``) uses it for profiles, so the rules are written once.

Each field's schema admits at least every value ``check_value`` accepts (a dataclass's own
``__post_init__`` may refuse more, such as ``[optics]``'s exclusive bounds, which are added here).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rig.config.schema import _allowed, _resolve

_PRIMITIVE = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _value_schema(cls: type, f: dataclasses.Field[Any]) -> dict[str, Any]:
    tp, optional = _resolve(cls, f)
    meta = f.metadata
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        schema = json_schema(tp)
        return {"anyOf": [schema, {"type": "null"}]} if optional else schema
    if typing.get_origin(tp) is tuple:
        items = [a for a in typing.get_args(tp) if a is not Ellipsis]
        schema = {"type": "array", "items": {"type": _PRIMITIVE.get(items[0], "string")} if items else {}}
    else:
        schema = {"type": _PRIMITIVE.get(tp, "string")}
    if meta.get("range"):
        lo, hi = meta["range"]
        schema.update(minimum=lo, maximum=hi)
    if meta.get("choices"):
        schema["enum"] = list(meta["choices"])
    words = list(meta.get("words") or ())
    alternatives = [schema]
    if words:
        alternatives.append({"type": "string", "enum": words})
    if optional:
        alternatives.append({"type": "null"})
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def field_schema(cls: type, f: dataclasses.Field[Any]) -> dict[str, Any]:
    """One field's schema with its help, unit, allowed values and default as the description."""
    schema = _value_schema(cls, f)
    meta = f.metadata
    words = [meta.get("help") or "", f"allowed: {_allowed(f)}" if _allowed(f) else ""]
    if meta.get("unit"):
        words.append(f"unit: {meta['unit']}")
    text = "; ".join(w for w in words if w)
    if text:
        schema["description"] = text
    if f.default is not dataclasses.MISSING and isinstance(f.default, (bool, int, float, str)):
        schema["default"] = f.default
    return schema


def json_schema(cls: type) -> dict[str, Any]:
    """The schema of a TOML table (a JSON object) that ``from_table(cls, ...)`` reads."""
    props = {f.name: field_schema(cls, f) for f in dataclasses.fields(cls) if f.init}
    extra = getattr(cls, "json_schema_extra", None)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    if callable(extra):
        extra(schema)
    return schema
