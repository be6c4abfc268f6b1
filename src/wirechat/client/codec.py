"""Sans-I/O tRPC over HTTP: URLs and bodies out, per-call outcomes in.

Everything here is pure: :mod:`wirechat.client.http` does the I/O. The rules are
tRPC's HTTP rules for URLs, input encoding, envelopes and batching:
queries are GETs with ``?batch=1&input={"0":…}``, mutations POSTs with the same object as
the body, an absent input is left out, and a top-level error object answers every call of
the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from .errors import TRPCClientError

__all__ = [
    "UNSET",
    "CallKind",
    "Outcome",
    "Unset",
    "batch_body",
    "batch_url",
    "decode_batch",
    "decode_single",
    "encode_component",
    "procedure_url",
    "result_of",
]

CallKind = Literal["query", "mutation"]


class Unset:
    """The type of :data:`UNSET`: "no input", which tRPC sends by leaving the key out."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()
"""No input (JavaScript ``undefined``); ``None`` is sent as JSON ``null``."""

# encodeURIComponent leaves these unescaped (ECMA-262 §19.2.6.5); the server form-decodes,
# and the client never emits a raw "+".
_URI_COMPONENT_SAFE = "-_.!~*'()"


def encode_component(value: Any) -> str:
    """``encodeURIComponent(JSON.stringify(value))``."""
    return quote(orjson.dumps(value).decode(), safe=_URI_COMPONENT_SAFE)


def procedure_url(base: str, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
    """``<base>/<path>`` with the base's own query first, then ``query`` (already encoded)."""
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/")
    params = [parts.query] if parts.query else []
    params += [f"{key}={value}" for key, value in query]
    return urlunsplit((parts.scheme, parts.netloc, f"{prefix}/{path}", "&".join(params), ""))


def _batch_inputs(inputs: Sequence[Any]) -> dict[str, Any]:
    return {str(i): value for i, value in enumerate(inputs) if value is not UNSET}


def batch_url(base: str, paths: Sequence[str], inputs: Sequence[Any] | None) -> str:
    """The URL of a batch: ``inputs`` for a GET (queries), None for a POST (mutations)."""
    query = [("batch", "1")]
    if inputs is not None:
        query.append(("input", encode_component(_batch_inputs(inputs))))
    return procedure_url(base, ",".join(paths), query)


def batch_body(inputs: Sequence[Any]) -> bytes:
    """The body of a POST batch: the index-keyed input object."""
    return orjson.dumps(_batch_inputs(inputs))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call's answer: ``data`` (None for ``{"result":{}}``) or ``error``."""

    data: Any = None
    error: TRPCClientError | None = None


def result_of(item: Any, status: int | None) -> Outcome:
    """The outcome of one response item; malformed items are client errors."""
    if isinstance(item, Mapping):
        if "error" in item:
            return Outcome(error=TRPCClientError.from_shape(item["error"], status))
        result = item.get("result")
        if isinstance(result, Mapping):
            return Outcome(data=result.get("data"))
    return Outcome(error=TRPCClientError(f"Unable to transform response from server: {item!r}"))


def _parse(status: int, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode("utf-8", "replace")
        raise TRPCClientError(
            f"HTTP {status}: the response is not JSON: {text!r}", http_status=status
        ) from None


def decode_batch(status: int, body: bytes, count: int) -> list[Outcome]:
    """Outcomes of a batch of ``count`` calls.

    An array answers call by call; a single object is a top-level answer and applies to
    every call (httpBatchLink). Raises :class:`TRPCClientError` for a body that is
    not JSON or an array of the wrong length.
    """
    message = _parse(status, body)
    if isinstance(message, list):
        if len(message) != count:
            raise TRPCClientError(
                f"Batch answered {len(message)} calls, {count} were sent", http_status=status
            )
        return [result_of(item, status) for item in message]
    outcome = result_of(message, status)
    return [outcome] * count


def decode_single(status: int, body: bytes) -> Outcome:
    """The outcome of a non-batch request (httpLink)."""
    return result_of(_parse(status, body), status)
