"""Prometheus metrics of one process (docs/api.md "Health, readiness and metrics")."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from wirechat.rpc import ErrorCode
from wirechat.rpc.envelopes import ProcedureType

__all__ = ["ChatMetrics"]


class ChatMetrics:
    """Connections, subscriptions, calls and errors per procedure, delivered events and
    call latency. Also the engine's :class:`~wirechat.rpc.Observer`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # Open files and resident memory: with the registries below, what a leak shows in.
        ProcessCollector(registry=self.registry)
        self.registries = Gauge(
            "wirechat_registry_entries",
            "Entries in the process's per-connection registries (read when scraped)",
            ["registry"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "wirechat_ws_connections", "Open WebSocket connections", registry=self.registry
        )
        self.subscriptions = Gauge(
            "wirechat_subscriptions",
            "Active subscriptions by procedure",
            ["procedure"],
            registry=self.registry,
        )
        self.calls = Counter(
            "wirechat_calls", "Procedure calls", ["procedure", "type"], registry=self.registry
        )
        self.errors = Counter(
            "wirechat_call_errors",
            "Procedure calls that failed, by error code",
            ["procedure", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "wirechat_call_seconds",
            "Procedure call latency (for subscriptions: until the stream is set up)",
            ["procedure"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self._per_path: dict[str, tuple[Counter, Histogram]] = {}
        self.delivered = Counter(
            "wirechat_events_delivered",
            "Events delivered to subscribers, by procedure",
            ["procedure"],
            registry=self.registry,
        )

    def call_finished(
        self, path: str, type: ProcedureType, seconds: float, error: ErrorCode | None
    ) -> None:
        children = self._per_path.get(path)
        if children is None:
            # Looking labelled children up costs a lock and a dict per call: keep them.
            children = self._per_path[path] = (
                self.calls.labels(path, type),
                self.latency.labels(path),
            )
        children[0].inc()
        children[1].observe(seconds)
        if error is not None:
            self.errors.labels(path, error.name).inc()

    def watch(self, registry: str, size: Callable[[], int]) -> None:
        """Report ``size()`` as ``wirechat_registry_entries{registry=...}`` on each scrape."""
        self.registries.labels(registry).set_function(size)

    def connections_changed(self, delta: int) -> None:
        self.connections.inc(delta)
