"""Data transformers: how values are wrapped on the wire, as tRPC's ``transformer`` option.

Without one (the default) values are plain JSON. :class:`SuperJSON` reads and
writes the ``{"json": …, "meta": …}`` envelope of the ``superjson`` 2.x npm
package, so a client created with ``transformer: superjson`` gets ``Date``,
``undefined``, ``BigInt``, ``Set``, ``Map``, ``RegExp``, ``NaN``/``±Infinity``
and ``-0`` back as such.

Python values are mapped as follows when serialized: ``datetime`` → Date;
:data:`~wirechat.rpc.codec.UNDEFINED` → undefined; an int outside JavaScript's
safe range → BigInt; ``set``/``frozenset`` → Set; ``re.Pattern`` → RegExp;
non-finite floats and ``-0.0`` → number annotations; an exception → Error;
pydantic models by their aliases; an ``orjson.Fragment`` (JSON encoded in
advance) is read back as JSON. A string the procedure's output schema declares
``date-time`` (see :func:`date_paths`) is sent as a Date, so pre-encoded
payloads keep their plain-JSON bytes and still arrive as Dates.

Deserialized: Date → aware UTC ``datetime``; undefined → UNDEFINED; BigInt →
int; Set → ``set`` (``list`` when an element is unhashable); Map → ``dict``
(a list of pairs when a key is unhashable); RegExp → :class:`RegExp`; URL →
``str``; Error → its plain object; typed arrays → lists. Referential
equalities are applied. Classes, symbols and custom transformations registered
in a JavaScript program cannot be known here and are refused, as is any
malformed envelope: :class:`TransformError`, answered BAD_REQUEST.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from .codec import UNDEFINED

__all__ = [
    "DatePaths",
    "RegExp",
    "SuperJSON",
    "TransformError",
    "Transformer",
    "date_paths",
]

DatePaths = Mapping[str, Any]
"""Where an output holds ``date-time`` strings: keys are object keys or ``"*"``
(any array element or map value); a value is ``True`` (a date here) or a
nested :data:`DatePaths`."""

_MAX_SAFE = 2**53 - 1


class TransformError(ValueError):
    """A value the transformer cannot read or write."""


@dataclass(frozen=True, slots=True)
class RegExp:
    """A JavaScript regular expression, kept as its source and flags (not compiled:
    JavaScript and Python syntax differ, and compiling input invites ReDoS)."""

    source: str
    flags: str


class Transformer(Protocol):
    """Turns values into JSON-ready values and back (tRPC's ``DataTransformer``)."""

    name: str

    def serialize(self, value: Any, dates: DatePaths | None = None) -> Any:
        """A JSON-ready value for ``value``; ``dates`` marks strings that are times."""
        ...

    def deserialize(self, value: Any) -> Any:
        """The value a client sent; raises :class:`TransformError` when malformed."""
        ...


def _escape(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.")


def _iso(moment: datetime) -> str:
    """``Date.prototype.toISOString``: UTC, milliseconds, ``Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


Annotations = Any
"""superjson's annotation tree: ``[type]``, ``[type, {path: tree}]`` or ``{path: tree}``."""


class SuperJSON:
    """The superjson 2.x envelope (``meta.v`` 1: dots in keys escaped)."""

    name = "superjson"

    # -- serialize ------------------------------------------------------------------

    def serialize(self, value: Any, dates: DatePaths | None = None) -> Any:
        json_value, annotations = self._walk(value, dates)
        envelope: dict[str, Any] = {"json": json_value}
        if annotations is not None:
            envelope["meta"] = {"values": annotations, "v": 1}
        return envelope

    def _walk(self, value: Any, dates: Any) -> tuple[Any, Annotations]:
        if value is None or value is True or value is False:
            return value, None
        kind = type(value)
        if kind is str:
            return value, (["Date"] if dates is True else None)
        if kind is int:
            if -_MAX_SAFE <= value <= _MAX_SAFE:
                return value, None
            return str(value), ["bigint"]
        if kind is float:
            if math.isnan(value):
                return "NaN", ["number"]
            if math.isinf(value):
                return ("Infinity" if value > 0 else "-Infinity"), ["number"]
            if value == 0 and math.copysign(1.0, value) < 0:
                return "-0", ["number"]
            return value, None
        if isinstance(value, dict):
            return self._container(value.items(), {}, dates)
        if isinstance(value, (list, tuple)):
            return self._container(enumerate(value), [], dates)
        if value is UNDEFINED:
            return None, ["undefined"]
        if isinstance(value, orjson.Fragment):
            return self._walk(orjson.loads(orjson.dumps(value)), dates)
        if isinstance(value, BaseModel):
            return self._walk(value.model_dump(mode="python", by_alias=True), dates)
        if isinstance(value, datetime):
            return _iso(value), ["Date"]
        if isinstance(value, date):
            return value.isoformat(), (["Date"] if dates is True else None)
        if isinstance(value, (set, frozenset)):
            items, inner = self._container(enumerate(value), [], None)
            return items, (["set", inner] if inner else ["set"])
        if isinstance(value, re.Pattern):
            return f"/{value.pattern}/{_flags(value.flags)}", ["regexp"]
        if isinstance(value, RegExp):
            return f"/{value.source}/{value.flags}", ["regexp"]
        if isinstance(value, BaseException):
            name = type(value).__name__
            if name in ("Exception", "RuntimeError"):
                name = "Error"  # JavaScript's plain Error
            return {"name": name, "message": str(value)}, ["Error"]
        if isinstance(value, bool):  # a bool subclass
            return bool(value), None
        if isinstance(value, int):
            return self._walk(int(value), dates)
        if isinstance(value, float):
            return self._walk(float(value), dates)
        if isinstance(value, str):
            return self._walk(str(value), dates)
        raise TypeError(f"Type is not superjson serializable: {kind.__name__}")

    def _container(self, items: Any, out: Any, dates: Any) -> tuple[Any, Annotations]:
        inner: dict[str, Any] = {}
        is_dict = isinstance(out, dict)
        for key, item in items:
            child_dates = None
            if isinstance(dates, Mapping):
                name = str(key)
                child_dates = dates[name] if name in dates else dates.get("*")
            json_item, annotations = self._walk(item, child_dates)
            if is_dict:
                out[str(key)] = json_item
            else:
                out.append(json_item)
            if annotations is None:
                continue
            escaped = _escape(str(key))
            if isinstance(annotations, list):
                inner[escaped] = annotations
            else:
                for path, tree in annotations.items():
                    inner[f"{escaped}.{path}"] = tree
        return out, (inner or None)

    # -- deserialize ----------------------------------------------------------------

    def deserialize(self, value: Any) -> Any:
        if not isinstance(value, dict) or "json" not in value:
            raise TransformError('Not a superjson envelope: expected {"json": …, "meta": …}')
        result = value["json"]
        meta = value.get("meta")
        if meta is None:
            return result
        if not isinstance(meta, dict):
            raise TransformError("superjson meta must be an object")
        version = meta.get("v", 0)
        legacy = not (isinstance(version, int) and version >= 1)
        try:
            values = meta.get("values")
            if values is not None:
                result = self._apply_values(result, values, legacy)
            equalities = meta.get("referentialEqualities")
            if equalities is not None:
                result = _apply_equalities(result, equalities, legacy)
        except TransformError:
            raise
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise TransformError(f"Invalid superjson meta: {exc}") from exc
        return result

    def _apply_values(self, plain: Any, tree: Any, legacy: bool) -> Any:
        root = [plain]

        def visit(node: Any, origin: list[str]) -> None:
            if isinstance(node, dict):
                for key, child in node.items():
                    visit(child, [*origin, *_parse_path(key, legacy)])
                return
            if not isinstance(node, list) or not node:
                raise TransformError("Invalid superjson annotation")
            kind = node[0]
            if len(node) > 1:
                children = node[1]
                if not isinstance(children, dict):
                    raise TransformError("Invalid superjson annotation")
                for key, child in children.items():
                    visit(child, [*origin, *_parse_path(key, legacy)])
            _set_deep(root, origin, lambda current: _untransform(current, kind))

        visit(tree, [])
        return root[0]


def _flags(flags: int) -> str:
    out = ""
    if flags & re.IGNORECASE:
        out += "i"
    if flags & re.MULTILINE:
        out += "m"
    if flags & re.DOTALL:
        out += "s"
    return out


def _parse_path(text: Any, legacy: bool) -> list[str]:
    """superjson's ``parsePath``: dots separate, ``\\.`` and ``\\\\`` escape (v1)."""
    if not isinstance(text, str):
        raise TransformError("Invalid superjson path")
    segments: list[str] = []
    segment = ""
    index = 0
    while index < len(text):
        char = text[index]
        if not legacy and char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped == "\\":
                segment += "\\"
                index += 2
                continue
            if escaped != ".":
                raise TransformError("Invalid superjson path")
        if char == "\\" and text[index + 1 : index + 2] == ".":
            segment += "."
            index += 2
            continue
        if char == ".":
            segments.append(segment)
            segment = ""
        else:
            segment += char
        index += 1
    segments.append(segment)
    return segments


def _step(container: Any, key: str) -> Any:
    if isinstance(container, list):
        return container[int(key)]
    if isinstance(container, dict):
        return container[key]
    raise TransformError("superjson path goes through a value that is not a container")


def _set_deep(root: list[Any], path: list[str], update: Callable[[Any], Any]) -> None:
    """Replace the value at ``path`` below ``root[0]`` by ``update(value)``."""
    parent: Any = root
    key: Any = 0
    for segment in path:
        parent = parent[key]
        if isinstance(parent, list):
            key = int(segment)
            if not 0 <= key < len(parent):
                raise TransformError("superjson path out of range")
        elif isinstance(parent, dict):
            key = segment
            if key not in parent:
                raise TransformError("superjson path not found")
        else:
            raise TransformError("superjson path goes through a value that is not a container")
    parent[key] = update(parent[key])


def _apply_equalities(plain: Any, annotations: Any, legacy: bool) -> Any:
    root = [plain]

    def copy_to(representative: str, identical: Any) -> None:
        value: Any = root[0]
        for segment in _parse_path(representative, legacy):
            value = _step(value, segment)
        if not isinstance(identical, list):
            raise TransformError("Invalid superjson referentialEqualities")
        for path in identical:
            _set_deep(root, _parse_path(path, legacy), lambda _old: value)

    if isinstance(annotations, list):
        if not annotations or not isinstance(annotations[0], list):
            raise TransformError("Invalid superjson referentialEqualities")
        for path in annotations[0]:
            _set_deep(root, _parse_path(path, legacy), lambda _old: root[0])
        if len(annotations) > 1:
            if not isinstance(annotations[1], dict):
                raise TransformError("Invalid superjson referentialEqualities")
            for representative, identical in annotations[1].items():
                copy_to(representative, identical)
    elif isinstance(annotations, dict):
        for representative, identical in annotations.items():
            copy_to(representative, identical)
    else:
        raise TransformError("Invalid superjson referentialEqualities")
    return root[0]


def _hashable_or_list(items: list[Any], build: Callable[[list[Any]], Any]) -> Any:
    try:
        return build(items)
    except TypeError:
        return items


def _untransform(value: Any, kind: Any) -> Any:
    if isinstance(kind, list):
        if kind and kind[0] == "typed-array" and isinstance(value, list):
            return value
        raise TransformError(f"Unsupported superjson type {kind!r} (registered in the client)")
    if kind == "undefined":
        return UNDEFINED
    if kind == "Date":
        if not isinstance(value, str):
            raise TransformError("superjson Date must be a string")
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if kind == "bigint":
        if not isinstance(value, str):
            raise TransformError("superjson bigint must be a string")
        return int(value)
    if kind == "number":
        if value not in ("NaN", "Infinity", "-Infinity", "-0"):
            raise TransformError("Invalid superjson number")
        return float(value.replace("Infinity", "inf")) if value != "NaN" else math.nan
    if kind == "set":
        if not isinstance(value, list):
            raise TransformError("superjson set must be an array")
        return _hashable_or_list(value, set)
    if kind == "map":
        if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in value
        ):
            raise TransformError("superjson map must be an array of pairs")
        return _hashable_or_list(value, lambda pairs: {k: v for k, v in pairs})
    if kind == "regexp":
        if not isinstance(value, str) or not value.startswith("/") or value.count("/") < 2:
            raise TransformError("Invalid superjson regexp")
        cut = value.rindex("/")
        return RegExp(value[1:cut], value[cut + 1 :])
    if kind == "URL":
        if not isinstance(value, str):
            raise TransformError("superjson URL must be a string")
        return value
    if kind == "Error":
        if not isinstance(value, dict):
            raise TransformError("superjson Error must be an object")
        return value
    raise TransformError(f"Unknown superjson type {kind!r}")


def date_paths(schema: Any, definitions: Mapping[str, Any]) -> DatePaths | bool | None:
    """Where a JSON Schema puts ``date-time`` strings: True for the value itself, a
    :data:`DatePaths` tree, or None for nowhere. Unions merge their branches;
    recursion through ``$ref`` stops at a definition already on the path."""
    found: DatePaths | bool | None = _dates(schema, definitions, ())
    return found


def _dates(schema: Any, definitions: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    if not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in definitions:
            return None
        return _dates(definitions[name], definitions, (*seen, name))
    if schema.get("type") == "string" and schema.get("format") == "date-time":
        return True
    merged: Any = None
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            merged = _merge(merged, _dates(branch, definitions, seen))
    tree: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        found = _dates(sub, definitions, seen)
        if found is not None:
            tree[name] = found
    for key in ("items", "additionalProperties"):
        found = _dates(schema.get(key), definitions, seen)
        if found is not None:
            tree["*"] = _merge(tree.get("*"), found)
    for index, sub in enumerate(schema.get("prefixItems") or ()):
        found = _dates(sub, definitions, seen)
        if found is not None:
            tree[str(index)] = found
    return _merge(merged, tree or None)


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if a is True or b is True:
        return True if (a is True and b is True) else (a if a is not True else b)
    merged = dict(a)
    for key, value in b.items():
        merged[key] = _merge(merged.get(key), value)
    return merged
