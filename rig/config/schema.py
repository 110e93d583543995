"""Turn TOML tables into frozen dataclasses, strictly.

Each dataclass field may carry metadata: ``range=(lo, hi)`` (inclusive), ``choices=(...)``,
``unit="um"`` and ``help="..."``. Unknown keys, wrong types, NaN/inf and out-of-range values
raise ``ConfigError`` with one message naming the file, the option and what is allowed.
Nested dataclass fields are TOML sub-tables.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import TYPE_CHECKING, Any, TypeVar

from rig.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
PIN = (0, 27)  # a Raspberry Pi BCM GPIO number (the range of every *_pin option)


def check_counts(option_name: str, counts: tuple[int, ...]) -> None:
    """A fault-injection list: shot or move numbers, each 1 or more."""
    bad = [k for k in counts if k < 1]
    if bad:
        raise ConfigError(f"option '{option_name}' = {list(counts)}: {bad[0]} is not a count (each must be 1 or more)")


def option(
    default: Any,
    *,
    range: tuple[float, float] | None = None,
    choices: tuple[str, ...] | None = None,
    unit: str = "",
    help: str = "",
    words: tuple[str, ...] = (),
) -> Any:
    """A dataclass field with validation metadata. ``words``: strings a number field also takes
    (``settle_s = "auto"``; its type is then ``float | str``)."""
    meta = {"range": range, "choices": choices, "unit": unit, "help": help, "words": words}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _allowed(f: dataclasses.Field[Any]) -> str:
    meta = f.metadata
    unit = f" {meta.get('unit')}" if meta.get("unit") else ""
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    if meta.get("range"):
        lo, hi = meta["range"]
        words = "".join(f" or {w!r}" for w in meta.get("words") or ())
        return f"a number from {lo:g} to {hi:g}{unit}{words}"
    return ""


def _type_name(tp: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(tp, str(tp))


def _resolve(cls: type, f: dataclasses.Field[Any]) -> tuple[Any, bool]:
    """The field's concrete type and whether None is allowed."""
    hints = typing.get_type_hints(cls)
    tp = hints[f.name]
    optional = False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0]
    return tp, optional


def check_value(cls: type, f: dataclasses.Field[Any], value: Any, where: str, name: str) -> Any:
    """Validate one value against field ``f`` of ``cls``; returns the converted value."""
    tp, optional = _resolve(cls, f)
    allowed = _allowed(f)

    def fail(why: str) -> ConfigError:
        extra = f" (allowed: {allowed})" if allowed else ""
        return ConfigError(f"{where}: option '{name}' = {value!r}: {why}{extra}")

    if value is None:
        if optional:
            return None
        raise fail("a value is required")
    words = f.metadata.get("words") or ()
    if words and isinstance(value, str):
        if value not in words:
            raise fail("not a number nor a known word")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(f"must be {_type_name(bool)}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            else:
                raise fail(f"must be {_type_name(int)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"must be {_type_name(float)}")
        value = float(value)
        if not math.isfinite(value):
            raise fail("must be a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise fail(f"must be {_type_name(str)}")
    elif typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail("must be a list")
        item_types = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if item_types and not all(isinstance(v, item_types[0]) and not isinstance(v, bool) for v in value):
            raise fail(f"every item must be {_type_name(item_types[0])}")
        value = tuple(value)
    rng = f.metadata.get("range")
    if rng is not None and not (rng[0] <= value <= rng[1]):
        raise fail("out of range")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise fail("not a known choice")
    return value


def from_table(cls: type[T], table: Any, where: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a TOML table; ``where`` names the file."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{where}: unknown option '{prefix}{unknown[0]}' (known here: {known})")
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        f = fields[name]
        tp, _ = _resolve(cls, f)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[name] = from_table(tp, value, where, f"{prefix}{name}.")
        else:
            kwargs[name] = check_value(cls, f, value, where, prefix + name)
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return obj


def validate(obj: Any, where: str, prefix: str = "") -> None:
    """Re-check every field of an existing dataclass (after ``dataclasses.replace``)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, where, f"{prefix}{f.name}.")
        else:
            check_value(type(obj), f, value, where, prefix + f.name)


def to_table(obj: Any) -> dict[str, Any]:
    """A dataclass as a TOML-ready dict (None values are left out)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            out[f.name] = to_table(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """(option, type, default, allowed, help) rows for docs/config.md."""
    rows = []
    for f in dataclasses.fields(cls):
        tp, _ = _resolve(cls, f)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            rows += describe(tp, f"{prefix}{f.name}.")
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING and callable(f.default_factory) else f.default
        rows.append(
            (prefix + f.name, getattr(tp, "__name__", str(tp)), repr(default), _allowed(f), f.metadata.get("help", ""))
        )
    return rows
