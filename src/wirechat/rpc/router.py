"""Routers: nested mappings of procedures flattened to dotted paths when built."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Union

from .procedure import Procedure

__all__ = ["Router", "RouterDef"]

RouterDef = Mapping[str, Union[Procedure, "Router", "RouterDef"]]
"""A router definition: names mapped to procedures, routers or nested definitions."""

_RESERVED = frozenset({"then", "call", "apply"})


class Router:
    """Procedures by dotted path (``rooms.create``); lookup is a dict read.

    Names must be non-empty and free of ``.`` and ``,`` (the batch separator);
    ``then``, ``call`` and ``apply`` are reserved as in tRPC because the client
    proxy cannot reach them. Duplicate paths fail when the router is built.
    """

    __slots__ = ("procedures",)

    def __init__(self, definition: RouterDef) -> None:
        self.procedures: dict[str, Procedure] = dict(_flatten(definition, ""))

    def get(self, path: str) -> Procedure | None:
        return self.procedures.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self.procedures

    def __iter__(self) -> Iterator[str]:
        return iter(self.procedures)

    def __len__(self) -> int:
        return len(self.procedures)

    def merge(self, other: Router) -> Router:
        """A router with the procedures of both; duplicate paths are an error."""
        clash = self.procedures.keys() & other.procedures.keys()
        if clash:
            raise ValueError(f"Duplicate procedure paths: {', '.join(sorted(clash))}")
        merged = Router({})
        merged.procedures = {**self.procedures, **other.procedures}
        return merged


def _flatten(definition: RouterDef, prefix: str) -> Iterator[tuple[str, Procedure]]:
    seen: set[str] = set()
    for name, item in definition.items():
        if not name or "." in name or "," in name or "/" in name:
            raise ValueError(f"Invalid procedure name {name!r} under {prefix or 'the root'}")
        if name in _RESERVED:
            raise ValueError(f"Reserved procedure name {name!r}")
        path = f"{prefix}{name}"
        if isinstance(item, Procedure):
            entries: Iterator[tuple[str, Procedure]] = iter([(path, item)])
        elif isinstance(item, Router):
            entries = ((f"{path}.{sub}", proc) for sub, proc in item.procedures.items())
        else:
            entries = _flatten(item, f"{path}.")
        for full, proc in entries:
            if full in seen:
                raise ValueError(f"Duplicate procedure path {full!r}")
            seen.add(full)
            yield full, proc
