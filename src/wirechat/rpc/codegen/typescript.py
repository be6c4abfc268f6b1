"""JSON Schema to TypeScript types.

Covers what pydantic emits: ``$ref`` to named definitions (which may recurse),
``anyOf``/``oneOf`` as unions, ``allOf`` as intersections, ``const`` and ``enum``
as literal types, tuples (``prefixItems``), arrays, objects with optional
(absent from ``required``) and nullable (``| null``) properties, dicts as index
signatures, ``date-time`` strings as ``string`` or, with ``dates=True``
(superjson), ``Date``, and descriptions as TSDoc. Anything else is ``unknown``
and a problem naming where it was found; nothing here renders ``any``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .schema import REF_PREFIX, UNSUPPORTED, JsonSchema

__all__ = ["TypeScript", "is_nullable", "ts_doc", "without_null"]

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

# Names the emitted file uses itself: a definition with one of them is renamed
# so that it cannot shadow the global.
_TAKEN = frozenset(
    {
        "AppErrorShape",
        "AppRouter",
        "Array",
        "AsyncIterable",
        "Boolean",
        "Date",
        "Error",
        "Map",
        "Number",
        "Object",
        "Partial",
        "Promise",
        "Record",
        "Set",
        "String",
        "Symbol",
        "TRPCBuiltRouter",
        "TRPCDefaultErrorShape",
        "TRPCMutationProcedure",
        "TRPCQueryProcedure",
        "TRPCSubscriptionProcedure",
    }
)


def ts_doc(text: str | None, indent: str = "") -> list[str]:
    """``text`` as a TSDoc comment, one line per item (none for no text)."""
    if not text or not text.strip():
        return []
    # reStructuredText's ``code`` is Markdown's `code` in TSDoc.
    lines = text.strip().replace("``", "`").replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    body = [f"{indent} *{' ' + line if line.strip() else ''}" for line in lines]
    return [f"{indent}/**", *body, f"{indent} */"]


def is_nullable(schema: Any, definitions: Mapping[str, JsonSchema]) -> bool:
    """Whether ``schema`` accepts ``null`` at its top level."""
    if not isinstance(schema, dict):
        return schema is True
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(REF_PREFIX)
        return is_nullable(definitions.get(name, {}), {})
    if schema.get("type") == "null" or schema.get("const", 0) is None:
        return True
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        return True
    return any(
        is_nullable(option, definitions)
        for option in (*schema.get("anyOf", ()), *schema.get("oneOf", ()))
    )


def without_null(schema: JsonSchema) -> JsonSchema | None:
    """``schema`` with ``null`` taken out of its top level (None if nothing is left)."""
    if schema.get("type") == "null" or schema.get("const", 0) is None:
        return None
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [kind for kind in kinds if kind != "null"]
        return {**schema, "type": rest if len(rest) > 1 else rest[0]} if rest else None
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            options = [
                o for o in schema[keyword] if not (isinstance(o, dict) and o == {"type": "null"})
            ]
            if not options:
                return None
            if len(options) == 1 and isinstance(options[0], dict):
                outer = {k: v for k, v in schema.items() if k != keyword}
                return {**outer, **options[0]}
            return {**schema, keyword: options}
    return schema


class TypeScript:
    """Renders the schemas of one set of definitions (pydantic's ``$defs``)."""

    def __init__(self, definitions: Mapping[str, JsonSchema], *, dates: bool) -> None:
        self.definitions = dict(definitions)
        self.dates = dates
        self.names: dict[str, str] = {}
        used: set[str] = set()
        for key in sorted(self.definitions):
            name = _ts_name(key)
            while name in used or name in _TAKEN:
                name += "_"
            used.add(name)
            self.names[key] = name
        self._refs: dict[str, set[str]] = {}

    def declarations(self) -> tuple[list[str], dict[str, list[str]]]:
        """Every definition as an exported ``interface`` or ``type``, sorted by name,
        and the problems found in each (by definition key)."""
        lines: list[str] = []
        problems: dict[str, list[str]] = {}
        for key in sorted(self.definitions, key=lambda k: self.names[k]):
            schema = self.definitions[key]
            name = self.names[key]
            found: list[str] = []
            refs: set[str] = set()
            lines.extend(ts_doc(schema.get("description")))
            if _is_plain_object(schema):
                body = self._object(schema, name, found, refs, "")
                lines.append(f"export interface {name} {body}")
            else:
                lines.append(f"export type {name} = {self._type(schema, name, found, refs, '')};")
            lines.append("")
            problems[key] = found
            self._refs[key] = refs
        return lines, problems

    def render(self, schema: Any, where: str, problems: list[str], indent: str = "") -> str:
        """A TypeScript type for ``schema``; ``where`` names it in problems."""
        return self._type(schema, where, problems, set(), indent)

    def references(self, schema: Any) -> set[str]:
        """Definition keys ``schema`` uses, directly or through other definitions
        (call after :meth:`declarations`)."""
        found: set[str] = set()
        _collect_refs(schema, found)
        pending = list(found)
        while pending:
            for ref in self._refs.get(pending.pop(), ()):
                if ref not in found:
                    found.add(ref)
                    pending.append(ref)
        return found

    def _type(self, schema: Any, where: str, problems: list[str], refs: set[str], ind: str) -> str:
        if schema is True or schema == {}:
            return "unknown"
        if schema is False:
            return "never"
        if not isinstance(schema, dict):
            problems.append(f"{where}: unreadable schema {schema!r}")
            return "unknown"
        if UNSUPPORTED in schema:
            problems.append(f"{where}: {schema[UNSUPPORTED]} cannot be typed for a client")
            return "unknown"
        if "$ref" in schema:
            key = str(schema["$ref"]).removeprefix(REF_PREFIX)
            if key not in self.names:
                problems.append(f"{where}: unknown reference {schema['$ref']}")
                return "unknown"
            refs.add(key)
            return self.names[key]
        if "const" in schema:
            return _literal(schema["const"])
        if "enum" in schema:
            return _union(_literal(value) for value in schema["enum"])
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return _union(
                    self._type(option, where, problems, refs, ind) for option in schema[keyword]
                )
        if "allOf" in schema:
            parts = [self._type(part, where, problems, refs, ind) for part in schema["allOf"]]
            return " & ".join(_paren(part) for part in dict.fromkeys(parts))
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union(
                self._type({**schema, "type": k}, where, problems, refs, ind) for k in kind
            )
        if kind == "string":
            return "Date" if self.dates and schema.get("format") == "date-time" else "string"
        if kind in ("integer", "number"):
            return "number"
        if kind == "boolean":
            return "boolean"
        if kind == "null":
            return "null"
        if kind == "array":
            return self._array(schema, where, problems, refs, ind)
        if kind == "object" or "properties" in schema:
            return self._object(schema, where, problems, refs, ind)
        if kind is None:
            return "unknown"
        problems.append(f"{where}: JSON Schema type {kind!r} is not supported")
        return "unknown"

    def _array(
        self, schema: JsonSchema, where: str, problems: list[str], refs: set[str], ind: str
    ) -> str:
        items = schema.get("items", True)
        if "prefixItems" in schema:
            parts = [
                self._type(item, f"{where}[{i}]", problems, refs, ind)
                for i, item in enumerate(schema["prefixItems"])
            ]
            # pydantic writes ``items`` for a variadic tail only (``tuple[int, *tuple[str, ...]]``).
            if "items" in schema and items is not False:
                parts.append(f"...{_paren(self._type(items, where, problems, refs, ind))}[]")
            return f"[{', '.join(parts)}]"
        return f"{_paren(self._type(items, f'{where}[]', problems, refs, ind))}[]"

    def _object(
        self, schema: JsonSchema, where: str, problems: list[str], refs: set[str], ind: str
    ) -> str:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        extra = schema.get("additionalProperties")
        inner = ind + "  "
        lines: list[str] = []
        for name, prop in properties.items():
            if isinstance(prop, dict):
                lines.extend(ts_doc(prop.get("description"), inner))
            key = name if _IDENTIFIER.match(name) else json.dumps(name)
            optional = "" if name in required else "?"
            value = self._type(prop, f"{where}.{name}", problems, refs, inner)
            lines.append(f"{inner}{key}{optional}: {value};")
        if not properties or extra not in (None, False):
            value = self._type(True if extra is None else extra, where, problems, refs, inner)
            names = schema.get("propertyNames", {})
            if isinstance(names, dict) and ("enum" in names or "const" in names):
                keys = self._type(names, where, problems, refs, inner)
                index = f"Partial<Record<{keys}, {value}>>"
                return index if not lines else f"{{\n{chr(10).join(lines)}\n{ind}}} & {index}"
            lines.append(f"{inner}[key: string]: {value};")
        if not lines:
            return "{}"
        return "{\n" + "\n".join(lines) + f"\n{ind}}}"


def _is_plain_object(schema: JsonSchema) -> bool:
    return (
        schema.get("type") == "object"
        and "properties" in schema
        and schema.get("additionalProperties") in (None, False)
        and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "propertyNames"))
    )


def _ts_name(key: str) -> str:
    parts = [part for part in re.split(r"[^A-Za-z0-9]+", key) if part]
    name = "".join(part[0].upper() + part[1:] for part in parts) or "Type"
    return name if not name[0].isdigit() else f"T{name}"


def _collect_refs(schema: Any, into: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            into.add(ref.removeprefix(REF_PREFIX))
        for value in schema.values():
            _collect_refs(value, into)
    elif isinstance(schema, list):
        for value in schema:
            _collect_refs(value, into)


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return f"[{', '.join(_literal(v) for v in value)}]"
    if isinstance(value, dict):
        fields = (
            f"{k if _IDENTIFIER.match(k) else json.dumps(k)}: {_literal(v)}"
            for k, v in value.items()
        )
        return f"{{ {'; '.join(fields)} }}"
    return json.dumps(value, ensure_ascii=False)


def _union(options: Iterable[str]) -> str:
    unique = list(dict.fromkeys(options))
    if "unknown" in unique:
        return "unknown"
    return " | ".join(unique) if unique else "never"


def _paren(text: str) -> str:
    """``text`` wrapped for use before ``[]`` or inside ``&``."""
    return f"({text})" if _has_top_level_operator(text) else text


def _has_top_level_operator(text: str) -> bool:
    depth = 0
    quoted = False
    escaped = False
    for i, char in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
        elif char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        elif depth == 0 and char in "|&" and text[i - 1 : i] == " ":
            return True
    return False
