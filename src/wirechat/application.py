"""What an application factory hands the server (``wirechat serve --app module:factory``).

The contract between the process (:mod:`wirechat.server`) and whatever it serves: the
chat (:mod:`wirechat.chat.app`) or any other set of procedures, such as the conformance
suite's demo app. It sits below both, so neither imports the other's module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from .config import Settings
from .rpc import Engine
from .web import ReadyCheck

__all__ = ["AppFactory", "Application", "StartupError"]


class StartupError(Exception):
    """The process cannot start; the message says why and which setting to change."""


async def _nothing() -> None:
    return None


@dataclass
class Application:
    """What a factory hands the server: the engine and its dependencies' hooks.

    ``aclose`` releases everything the factory opened; the server calls it once, after
    both servers have stopped.
    """

    engine: Engine[Any]
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    aclose: Callable[[], Awaitable[None]] = _nothing
    registry: CollectorRegistry = REGISTRY
    on_connections_change: Callable[[int], None] = lambda delta: None
    tables: Callable[[], Iterable[set[Any] | dict[Any, Any]]] = tuple
    """The sets and dicts that hold an entry per connection: shrunk to what they hold
    after a wave of disconnects (``rpc/ws/memory.py``)."""


AppFactory = Callable[[Settings], Awaitable[Application]]
"""Builds the application from the settings; raises :class:`StartupError` when it cannot."""
