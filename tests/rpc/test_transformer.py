"""superjson: the Python side against bytes made by the real ``superjson`` npm package.

A Node script (run once per module, in ``tests/conformance/node`` where superjson
2.x is pinned) serializes JavaScript values; Python must produce the same bytes
for the matching Python values, and read them back to the matching values.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field

from support.node import NODE_DIR, node_modules, unavailable
from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.transformer import RegExp, SuperJSON, TransformError, date_paths

SJ = SuperJSON()
MOMENT = datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)

# name: (JavaScript expression, Python value serialized to the same bytes)
CASES: dict[str, tuple[str, Any]] = {
    "plain": ("({a: 1, b: 'x', c: [true, null]})", {"a": 1, "b": "x", "c": [True, None]}),
    "date": ("new Date('2026-01-31T12:00:00.123Z')", MOMENT),
    "nested_date": (
        "({m: {createdAt: new Date('2026-01-31T12:00:00.123Z')}})",
        {"m": {"createdAt": MOMENT}},
    ),
    "undefined": ("undefined", UNDEFINED),
    "undefined_member": ("({a: undefined, b: 1})", {"a": UNDEFINED, "b": 1}),
    "bigint": ("12345678901234567890n", 12345678901234567890),
    "set": ("new Set([1, 2])", {1, 2}),
    "regexp": ("/a.b/gi", RegExp("a.b", "gi")),
    "nan": ("[NaN, Infinity, -Infinity, -0, 0]", [math.nan, math.inf, -math.inf, -0.0, 0]),
    "dotted_key": (
        "({'a.b': new Date('2026-01-31T12:00:00.123Z'), 'c\\\\d': undefined})",
        {"a.b": MOMENT, "c\\d": UNDEFINED},
    ),
    "array_of_dates": ("[new Date('2026-01-31T12:00:00.123Z'), 'x']", [MOMENT, "x"]),
    "error": ("new Error('boom')", RuntimeError("boom")),
}

# Values only JavaScript makes (read side): name -> (expression, expected Python value)
READ_ONLY: dict[str, tuple[str, Any]] = {
    "map": (
        "new Map([['k', 1], ['j', new Date('2026-01-31T12:00:00.123Z')]])",
        {"k": 1, "j": MOMENT},
    ),
    "url": ("new URL('https://example.com/a?b=1')", "https://example.com/a?b=1"),
    "set_of_dates": ("new Set([new Date('2026-01-31T12:00:00.123Z')])", {MOMENT}),
    "shared": (
        "(() => { const o = {x: 1}; return {a: o, b: o}; })()",
        {"a": {"x": 1}, "b": {"x": 1}},
    ),
    "root_shared": ("(() => { const o = {}; o.self = o; return o; })()", None),
    "typed": ("new Uint8Array([1, 2])", [1, 2]),
}

SCRIPT = """
import superjson from 'superjson';
const cases = %s;
const out = {};
for (const [name, make] of Object.entries(cases)) out[name] = superjson.stringify(make());
const back = JSON.parse(process.argv[1]);
const read = {};
for (const [name, text] of Object.entries(back)) {
  const v = superjson.parse(text);
  const shown = v instanceof Date ? v.toISOString()
    : v instanceof Set ? [...v].map(String)
    : typeof v === 'bigint' ? v.toString()
    : JSON.stringify(v) ?? 'undefined';
  read[name] = Object.prototype.toString.call(v) + ' ' + String(shown);
}
console.log(JSON.stringify({out, read}));
"""


@pytest.fixture(scope="module")
def node_run() -> dict[str, Any]:
    if shutil.which("node") is None:
        unavailable("node not found on PATH")
    node_modules()
    all_cases = {**CASES, **READ_ONLY}
    cases = "{" + ",".join(f"{json.dumps(k)}: () => {v[0]}" for k, v in all_cases.items()) + "}"
    ours = {name: SJ.serialize(value) for name, (_, value) in CASES.items()}
    argument = json.dumps({name: orjson.dumps(env).decode() for name, env in ours.items()})
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT % cases, argument],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_writes_the_bytes_superjson_writes(node_run: dict[str, Any], name: str) -> None:
    assert orjson.dumps(SJ.serialize(CASES[name][1])) == node_run["out"][name].encode()


@pytest.mark.parametrize("name", sorted(CASES))
def test_superjson_reads_what_python_writes(node_run: dict[str, Any], name: str) -> None:
    ours = node_run["read"][name]
    theirs = subprocess.run(  # what superjson reads from its own bytes, for comparison
        [
            "node",
            "--input-type=module",
            "-e",
            SCRIPT % "{}",
            json.dumps({name: node_run["out"][name]}),
        ],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ours == json.loads(theirs.stdout)["read"][name]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"error"}))
def test_python_reads_what_superjson_writes(node_run: dict[str, Any], name: str) -> None:
    value = SJ.deserialize(orjson.loads(node_run["out"][name]))
    assert same(value, CASES[name][1]), value


def test_python_reads_an_error_as_its_plain_object(node_run: dict[str, Any]) -> None:
    value = SJ.deserialize(orjson.loads(node_run["out"]["error"]))
    assert value == {"name": "Error", "message": "boom"}


@pytest.mark.parametrize("name", sorted(set(READ_ONLY) - {"root_shared"}))
def test_python_reads_values_only_javascript_makes(node_run: dict[str, Any], name: str) -> None:
    value = SJ.deserialize(orjson.loads(node_run["out"][name]))
    assert same(value, READ_ONLY[name][1]), value


def test_referential_equalities_are_read(node_run: dict[str, Any]) -> None:
    envelope = orjson.loads(node_run["out"]["shared"])
    assert "referentialEqualities" in envelope["meta"]
    value = SJ.deserialize(envelope)
    assert value["a"] is value["b"]
    looped = SJ.deserialize(orjson.loads(node_run["out"]["root_shared"]))
    assert looped["self"] is looped


class Event(BaseModel):
    text: str
    created_at: datetime = Field(alias="createdAt")


def test_a_pre_encoded_payload_gets_dates_from_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/M"}},
            "nextCursor": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        },
    }
    defs = {
        "M": {
            "type": "object",
            "properties": {"createdAt": {"type": "string", "format": "date-time"}},
        }
    }
    dates = date_paths(schema, defs)
    payload = orjson.Fragment(
        b'{"items":[{"createdAt":"2026-01-31T12:00:00.123Z","t":"a.b"}],"nextCursor":null}'
    )
    assert SJ.serialize(payload, dates) == {
        "json": {
            "items": [{"createdAt": "2026-01-31T12:00:00.123Z", "t": "a.b"}],
            "nextCursor": None,
        },
        "meta": {"values": {"items.0.createdAt": ["Date"]}, "v": 1},
    }


def test_a_pydantic_model_is_dumped_by_alias_with_real_dates() -> None:
    envelope = SJ.serialize(Event(text="hi", createdAt=MOMENT))
    assert envelope == {
        "json": {"text": "hi", "createdAt": "2026-01-31T12:00:00.123Z"},
        "meta": {"values": {"createdAt": ["Date"]}, "v": 1},
    }


@pytest.mark.parametrize(
    "envelope",
    [
        [1],
        {"meta": {}},
        {"json": 1, "meta": []},
        {"json": {"a": 1}, "meta": {"values": {"a": ["nope"]}, "v": 1}},
        {"json": {"a": 1}, "meta": {"values": {"b": ["Date"]}, "v": 1}},
        {"json": {"a": "x"}, "meta": {"values": {"a": ["Date"]}, "v": 1}},
        {"json": {"a": 1}, "meta": {"values": {"a": [["class", "Foo"]]}, "v": 1}},
        {"json": {"a": 1}, "meta": {"values": {"a\\x": ["Date"]}, "v": 1}},
        {"json": 1, "meta": {"referentialEqualities": {"a": ["b"]}, "v": 1}},
        {"json": {"a": 1}, "meta": {"values": 7, "v": 1}},
    ],
)
def test_a_malformed_envelope_is_a_transform_error(envelope: Any) -> None:
    with pytest.raises(TransformError):
        SJ.deserialize(envelope)


def test_a_python_pattern_is_sent_as_a_regexp() -> None:
    assert SJ.serialize(re.compile("a+", re.IGNORECASE)) == {
        "json": "/a+/i",
        "meta": {"values": ["regexp"], "v": 1},
    }
